# conect_add_fuzz_target(NAME SOURCE CORPUS_DIR LIBS...)
#
# One line per fuzz target (a file defining LLVMFuzzerTestOneInput):
#   - with CONECT_FUZZ=ON (clang), NAME is a libFuzzer binary
#     (-fsanitize=fuzzer): run it as `NAME CORPUS_DIR` to fuzz;
#   - otherwise NAME links the replay driver (replay_main.cc), which feeds
#     every file of the directories it is given to the target.
# Either way the ctest NAME_replay runs the target over its corpus, so the
# sanitizer build checks every corpus file on every CI run. Include this file
# from any tests/ folder, or add the line to tests/fuzz/CMakeLists.txt.
include_guard(GLOBAL)
set(CONECT_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})

function(conect_add_fuzz_target name source corpus_dir)
  get_filename_component(corpus ${corpus_dir} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE ${ARGN} conect_warnings)
  if(CONECT_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME ${name}_replay COMMAND ${name} -runs=0 ${corpus})
  else()
    target_sources(${name} PRIVATE ${CONECT_FUZZ_DIR}/replay_main.cc)
    add_test(NAME ${name}_replay COMMAND ${name} ${corpus})
  endif()
  set_tests_properties(${name}_replay PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
