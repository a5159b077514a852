// The placements the storage and API benches search: spread over 8 trades,
// 4 countries, 5 working languages, a year of 30-day windows and capacities
// 0-3, so every filter of the placement search selects a real fraction.
#pragma once

#include <cstdint>
#include <string>

#include "conect/crdt/merge.h"
#include "records.pb.h"

namespace conect::bench {

inline const char* const kTrades[] = {"carpentry", "welding",  "cooking", "electrician",
                                      "nursing",   "plumbing", "hvac",    "masonry"};
inline const char* const kCountries[] = {"FI", "SE", "NO", "RU"};
inline const char* const kLangs[] = {"en", "fi", "sv", "nb", "ru"};
// Windows start on one of the 365 days from this one (days since 1970).
inline constexpr int kFirstWindowDay = 19'500;

inline v1::Placement sample_placement(std::uint64_t i, const RecordKey& host) {
  v1::Placement p;
  *p.mutable_host_organisation() = host.to_proto();
  auto* t = p.add_title();
  t->set_lang("en");
  t->set_text("Trainee " + std::to_string(i));
  p.set_trade(kTrades[i % 8]);
  p.set_country(kCountries[(i / 8) % 4]);
  p.set_city("Rovaniemi");
  auto* w = p.add_windows();
  w->set_window_id(1);
  int start = kFirstWindowDay + static_cast<int>(i % 365);
  w->mutable_start()->set_days(start);
  w->mutable_end()->set_days(start + 30);
  w->set_capacity(static_cast<std::uint32_t>(i % 4));
  auto* l = p.add_languages();
  l->set_lang(kLangs[i % 5]);
  l->set_level(v1::B1);
  p.set_status(v1::PLACEMENT_OPEN);
  return p;
}

}  // namespace conect::bench
