// libsodium takes unsigned char pointers; conect keeps bytes in strings.
// One definition for the sources of conect_net (a unity build compiles them
// together).
#pragma once

#include <string>
#include <string_view>

namespace conect::net {

inline const unsigned char* u8(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
inline unsigned char* u8(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace conect::net
