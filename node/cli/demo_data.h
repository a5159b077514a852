// Sample data for `conect-node demo`: four vocational schools of the Barents
// region, the construction companies they speak for, placements, contacts and
// mobilities. Names are plausible, not real institutions.
#pragma once

#include <string>
#include <vector>

namespace conect::cli::sample {

struct Company {
  std::string name;
  std::string city;
  std::string type;  // sme | large_enterprise
  std::vector<std::string> trades;
};

struct Placement {
  int company;  // index into School::companies, -1 for the school itself
  std::string trade;
  std::string title_en, title_local;
  std::string tasks;
  std::vector<std::string> safety;
  int windows;     // how many two-week windows
  int capacity;    // slots per window
  int first_week;  // weeks from today of the first window
};

struct School {
  std::string name_en, name_local, lang;  // lang: primary tag of name_local
  std::string country, region, city;
  std::string coordinator_role;  // display name of the coordinator contact
  std::vector<Company> companies;
  std::vector<Placement> placements;
  std::vector<std::string> pseudonyms;  // learners' pseudonyms
};

const std::vector<School>& schools();

}  // namespace conect::cli::sample
