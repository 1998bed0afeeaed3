// xgw: the command-line client. Dispatches to the subcommand table.
#include <cstdio>
#include <string>
#include <string_view>

#include "client/cli.h"
#include "client/commands.h"
#include "crypto/secret.h"

namespace xgw::cli {

std::span<const Command> Commands() {
  static constexpr Command kCommands[] = {
      {"keygen", "generate an age identity file (like age-keygen), or print its recipients with -y", RunKeygen},
      {"encrypt", "encrypt a file to age recipients or a passphrase (like age -e)", RunEncrypt},
      {"decrypt", "decrypt an age file with identity files or a passphrase (like age -d)", RunDecrypt},
  };
  return kCommands;
}

namespace {
void PrintHelp(std::FILE* to) {
  std::string text = "usage: xgw COMMAND [FLAGS] [ARGS]\n\ncommands:\n";
  for (const Command& c : Commands()) {
    text += "  " + std::string(c.name);
    text.append(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ');
    text += std::string(c.summary) + "\n";
  }
  text +=
      "\nrun `xgw COMMAND --help` for a command's flags.\n"
      "\nenvironment:\n"
      "  XGW_PASSPHRASE_FILE  read passphrases from the first line of this file instead of\n"
      "                       prompting on the terminal (for automation; keep it mode 0600)\n"
      "\nexit codes:\n"
      "  0  success\n"
      "  1  the operation failed (malformed or tampered input, wrong key, I/O error);\n"
      "     `xgw: error: CLASS: ...` names the failure class\n"
      "  2  usage error (bad flags or arguments); nothing was done\n";
  std::fputs(text.c_str(), to);
}
}  // namespace

}  // namespace xgw::cli

int main(int argc, char** argv) {
  xgw::DisableCoreDumps();
  xgw::InitCrypto();
  using namespace xgw::cli;
  if (argc < 2) {
    PrintHelp(stderr);
    return kExitUsage;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    PrintHelp(stdout);
    return kExitOk;
  }
  if (name == "--version" || name == "version") {
    std::puts("xgw " XGW_VERSION);
    return kExitOk;
  }
  for (const Command& c : Commands()) {
    if (c.name == name) return c.run(std::span<char* const>(argv + 2, static_cast<size_t>(argc - 2)));
  }
  std::fprintf(stderr, "xgw: error: unknown command \"%s\"\nxgw: hint: run `xgw --help` for the list\n",
               std::string(name).c_str());
  return kExitUsage;
}
