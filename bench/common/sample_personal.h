// Personal data as a node holds and seals it (node/api/src/records_support.cc,
// seal_personal): 32 random salt bytes || the canonical JSON (keys sorted) of
// a mobility participant's name, e-mail and birth date: 100 to 200 bytes, as
// the people of a school's mobilities give them. The commitment a record
// carries is the BLAKE2b-256 of exactly these bytes.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "conect/crdt/identity.h"

namespace conect::bench {

struct SamplePersonal {
  std::string bytes;  // salt || JSON
  Hash256 commitment;
};

inline const char* const kGivenNames[] = {"Aino",      "Eero",  "Ingrid",          "Oskar",     "Sofia-Maria",
                                          "Nikolai",   "Hanna", "Mikael",          "Elsa",      "Juho",
                                          "Anastasia", "Tor",   "Kristiina Helmi", "Aleksandr", "Lotta"};
inline const char* const kFamilyNames[] = {"Kettunen", "Lindqvist",      "Haugen",       "Ivanova",   "Mäkelä",
                                           "Nieminen", "Johansson",      "Pettersen",    "Kuznetsov", "Väisänen",
                                           "Berglund", "Solberg-Nilsen", "Heikkilä-Aho", "Andersson", "Strøm"};
inline const char* const kMailDomains[] = {"edu.rovaniemi.fi", "student.lulea.se", "gmail.com", "outlook.com",
                                           "vgs.finnmark.no",  "mail.ru",          "redu.fi"};

// The i-th sample (a fresh salt each call).
inline SamplePersonal sample_personal(std::uint64_t i) {
  const std::string given = kGivenNames[i % 15], family = kFamilyNames[(i / 15) % 15];
  // The address in ASCII, as people write theirs: "Väisänen" -> "vaisanen".
  std::string mail;
  const std::string full = given + "." + family;
  for (std::size_t k = 0; k < full.size(); ++k) {
    const auto c = static_cast<unsigned char>(full[k]);
    if (c == 0xC3 && k + 1 < full.size()) {  // ä å ö ø (U+00E4, U+00E5, U+00F6, U+00F8)
      const auto d = static_cast<unsigned char>(full[++k]);
      mail += d == 0xA4 || d == 0xA5 ? 'a' : 'o';
    } else {
      mail += c == ' ' ? '.' : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
    }
  }
  char birth[11];
  std::snprintf(birth, sizeof birth, "%04d-%02d-%02d", 2000 + static_cast<int>(i % 9), 1 + static_cast<int>(i % 12),
                1 + static_cast<int>(i % 28));
  std::string json = std::string(R"({"birth_date":")") + birth + R"(","email":")" + mail + std::to_string(i % 100) +
                     "@" + kMailDomains[i % 7] + R"(","name":")" + given + " " + family + R"("})";
  SamplePersonal out;
  out.bytes.assign(32, '\0');
  randombytes_buf(out.bytes.data(), out.bytes.size());
  out.bytes += json;
  out.commitment = blake2b256(out.bytes);
  return out;
}

}  // namespace conect::bench
