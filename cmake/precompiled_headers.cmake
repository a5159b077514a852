# Precompiled headers: the third-party headers nearly every source of a
# target includes (the C++ library, protobuf and the generated delta/records
# messages, nlohmann::json, Asio, GoogleTest) are parsed once per target
# instead of once per source. Only third-party and generated headers go in,
# so editing conect's own headers never rebuilds a precompiled header.
# README.md ("Tests", build time) gives the measured effect on a cold build.
option(CONECT_PCH "Precompile the third-party headers the sources of a target share" ON)

set(CONECT_PCH_STD
  <algorithm> <array> <chrono> <cstdint> <cstring> <filesystem> <functional> <map> <memory>
  <mutex> <optional> <set> <span> <string> <string_view> <unordered_map> <utility> <variant> <vector>)
set(CONECT_PCH_PROTOBUF
  <google/protobuf/message.h> <google/protobuf/generated_message_reflection.h>
  <google/protobuf/io/coded_stream.h> <google/protobuf/unknown_field_set.h>)
# The generated messages almost every header of conect includes (through
# conect/crdt/delta.h). Never in conect_proto's own header: it generates them.
set(CONECT_PCH_MESSAGES <delta.pb.h> <records.pb.h>)
set(CONECT_PCH_JSON <nlohmann/json.hpp>)
set(CONECT_PCH_ASIO <boost/asio/io_context.hpp> <boost/asio/ip/tcp.hpp> <boost/asio/steady_timer.hpp>
  <boost/asio/strand.hpp> <boost/asio/post.hpp>)
set(CONECT_PCH_GTEST <gtest/gtest.h>)

# conect_precompile_headers(target header...): headers are <...> names from
# the lists above. A no-op with -DCONECT_PCH=OFF, and with GCC: GCC 12 reports
# libstdc++'s inlined code from inside its precompiled header as not from a
# system header (false -Warray-bounds on std::string at -O3, an error with
# -Werror), and the Release build it compiles is mostly optimiser time anyway.
function(conect_precompile_headers target)
  if(NOT CONECT_PCH OR NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    return()
  endif()
  target_precompile_headers(${target} PRIVATE ${ARGN})
  # clang stamps a precompiled header with its build time and then checks the
  # stamp; without the stamp ccache can cache the sources that use it.
  target_compile_options(${target} PRIVATE "SHELL:-Xclang -fno-pch-timestamp")
endfunction()
