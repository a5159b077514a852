// Every write route, fed valid bodies with one part changed at random (a
// value of another JSON type, an out-of-range number, an absurd string, a
// field dropped or added, the body replaced): the node answers each with a
// refusal that names what was wrong, or takes it, but never fails inside
// (500), and a refused request writes nothing.
#include <random>

#include "api_fixture.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

// Every value of a body (object members and array items) by JSON pointer.
void pointers(const json& v, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (v.is_object())
    for (const auto& [k, child] : v.items()) pointers(child, at / k, out);
  if (v.is_array())
    for (std::size_t i = 0; i < v.size(); ++i) pointers(v[i], at / i, out);
}

json odd_value(std::mt19937_64& rng) {
  static const json kOdd[] = {
      nullptr,
      true,
      -1,
      0,
      4294967296LL,
      -9223372036854775807LL,
      18446744073709551615ULL,
      1.5,
      1e308,
      "",
      " ",
      "2026-02-30",
      "9999-99-99",
      "not-an-id",
      std::string(5000, 'x'),
      std::string("nul\0byte", 8),
      "ÅÄÖ яблоко",
      json::array(),
      json::array({1, 2, 3}),
      json::object(),
      json::object({{"lang", "xx"}, {"text", 7}}),
      json::array(
          {json::object({{"window_id", 0}, {"start", "2026-05-01"}, {"end", "2026-01-01"}, {"capacity", -3}})})};
  return kOdd[rng() % std::size(kOdd)];
}

json mutate(json body, std::mt19937_64& rng) {
  std::vector<json::json_pointer> at;
  pointers(body, json::json_pointer(), at);
  const auto& p = at[rng() % at.size()];
  switch (rng() % 4) {
    case 0:
    case 1:  // another value
      if (p.empty()) return odd_value(rng);
      body[p] = odd_value(rng);
      break;
    case 2:  // drop it
      if (!p.empty()) {
        json& parent = body.at(p.parent_pointer());
        if (parent.is_object())
          parent.erase(p.back());
        else
          parent.erase(std::stoul(p.back()));
      }
      break;
    case 3:  // an unknown member
      if (body.at(p).is_object()) body.at(p)["unknown_field"] = odd_value(rng);
      break;
  }
  return body;
}

class MutatedBodies : public ApiFixture {};

TEST_F(MutatedBodies, NoBodyMakesTheNodeFailInsideAndARefusalWritesNothing) {
  auto c = client();
  const std::string org = create_org(c);
  const RecordKey theirs = other_org("SE");
  const std::string placement = create_placement(c, org);
  json mobility = {
      {"fixed",
       {{"sending_organisation", org},
        {"receiving_organisation", theirs.text()},
        {"participant", {{"pseudonym", "P-0042"}}},
        {"type", "learner_otj_company"},
        {"category", "ivet_learner"}}},
      {"sending",
       {{"planned_start", "2026-03-02"},
        {"planned_end", "2026-04-30"},
        {"eqf_level", 4},
        {"languages", {{{"lang", "sv"}, {"level", "A2"}}}}}},
      {"personal_data", {{"name", "Aino Virtanen"}, {"birth_date", "2007-05-14"}, {"email", "aino@example.fi"}}}};
  auto made = c.post("/api/v1/mobilities", mobility);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string mobility_id = made.json()["id"];
  json contact = {{"organisation", org},
                  {"display_name", "Coordinator"},
                  {"roles", {"mobility_coordinator"}},
                  {"personal_data", {{"name", "Liisa Korhonen"}, {"email", "liisa@example.fi"}}}};
  auto contact_made = c.post("/api/v1/contacts", contact);
  ASSERT_EQ(contact_made.status, 201) << contact_made.body;
  const std::string contact_id = contact_made.json()["id"];

  struct Route {
    std::string method, path;
    json body;
  };
  const std::vector<Route> routes = {
      {"POST",
       "/api/v1/organisations",
       {{"names", {{{"lang", "en"}, {"text", "Org"}}}}, {"type", "vet_school"}, {"country", "FI"}}},
      {"PATCH", "/api/v1/organisations/" + org, {{"city", "Rovaniemi"}}},
      {"POST", "/api/v1/placements", placement_body(org)},
      {"PATCH",
       "/api/v1/placements/" + placement,
       {{"windows", {{{"window_id", 1}, {"start", "2026-03-01"}, {"end", "2026-05-31"}, {"capacity", 4}}}}}},
      {"POST", "/api/v1/placements/" + placement + "/reservations", {{"window_id", 1}, {"slots", 1}}},
      {"POST", "/api/v1/mobilities", mobility},
      {"PATCH", "/api/v1/mobilities/" + mobility_id, {{"sending", {{"qualification_title", "Welder"}}}}},
      {"POST", "/api/v1/contacts", contact},
      {"PATCH", "/api/v1/contacts/" + contact_id, {{"display_name", "Front desk"}}},
      {"POST", "/api/v1/import/contacts", {{"rows", json::array({contact})}}},
  };
  std::mt19937_64 rng(20261204);
  std::map<int, int> statuses;
  for (const auto& route : routes) {
    for (int i = 0; i < 60; ++i) {
      json body = mutate(route.body, rng);
      const std::uint64_t before = own_head();
      auto r = route.method == "POST" ? c.post(route.path, body) : c.patch(route.path, body);
      ++statuses[r.status];
      ASSERT_LT(r.status, 500) << route.method << " " << route.path << " " << body.dump().substr(0, 400) << " -> "
                               << r.body.substr(0, 400);
      if (r.status >= 400) {
        auto reply = json::parse(r.body, nullptr, false);
        ASSERT_TRUE(reply.is_object() && !reply.value("detail", "").empty())
            << route.path << ": a refusal without a reason: " << r.body.substr(0, 400);
        EXPECT_EQ(own_head(), before) << route.path << ": a refused request wrote a delta: " << body.dump();
      }
    }
  }
  // The mutations reached the handlers' checks, not only the JSON parser:
  // some were taken, most were refused with a reason.
  EXPECT_GT(statuses[201] + statuses[200], 0);
  EXPECT_GT(statuses[422] + statuses[400], 0);
  EXPECT_EQ(c.get("/healthz").status, 200);
}

}  // namespace
}  // namespace conect::api::test
