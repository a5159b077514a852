// Runs a fuzz target without libFuzzer (the instrumented CI build has no
// fuzzing engine): every file given on the command line, every file in a
// directory given there, then a fixed number of pseudo-random inputs from a
// fixed seed, so each CI run replays the same inputs. A path that does not
// exist, or a corpus with no file, fails the run (like tests/fuzz's replay):
// a corpus that went missing must not pass on the random inputs alone.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int files = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files += run_file(e.path());
    } else if (std::filesystem::is_regular_file(p, ec)) {
      files += run_file(p);
    } else {
      std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
      return 2;
    }
  }
  if (files == 0) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR|FILE... (found no corpus file)\n", argv[0]);
    return 2;
  }
  std::mt19937 rng(20240601);
  constexpr int kRandomInputs = 500;
  for (int i = 0; i < kRandomInputs; ++i) {
    std::vector<std::uint8_t> input(rng() % 600);
    for (auto& b : input) b = static_cast<std::uint8_t>(rng());
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::printf("replayed %d corpus files and %d random inputs\n", files, kRandomInputs);
  return 0;
}
