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
      {"login", "configure the gateway address, your token and the gateway's key (once)", RunLogin},
      {"enrol", "set up your password and authenticator app with an invitation code (once)", RunEnrol},
      {"logout", "end your session and forget it", RunLogout},
      {"password", "change your password (your other sessions end)", RunPassword},
      {"whoami", "show who the gateway thinks you are (tests the connection)", RunWhoami},
      {"register-key", "send your public keys to the gateway (--new-identity creates them)", RunRegisterKey},
      {"key", "keep your identity file on the gateway wrapped with your passphrase; restore it; key history", RunKey},
      {"protocols", "list the protocols you may send or receive under", RunProtocols},
      {"protocol", "show a protocol in plain words; operators: propose/accept/activate/suspend/terminate", RunProtocol},
      {"send", "check a list against a protocol, encrypt, sign and send it", RunSend},
      {"inbox", "list the lists waiting for you (--sent: what you sent)", RunInbox},
      {"receive", "fetch, decrypt and verify a list", RunReceive},
      {"ack", "confirm you received a list", RunAck},
      {"revoke", "withdraw a list you sent", RunRevoke},
      {"audit", "DPO: events, verify the log, deletion receipts, data-subject lookups", RunAudit},
      {"org", "operator: create and list organisations", RunOrg},
      {"user", "operator: create and list users, set roles", RunUser},
      {"token", "operator: issue, list and revoke access tokens", RunToken},
      {"clock", "operator: advance the gateway's test clock", RunClock},
  };
  return kCommands;
}

namespace {
void PrintHelp(std::FILE* to) {
  std::string text = "usage: xgw COMMAND [FLAGS] [ARGS]\n\ncommands:\n";
  for (const Command& c : Commands()) {
    text += "  " + std::string(c.name);
    text.append(c.name.size() < 14 ? 14 - c.name.size() : 1, ' ');
    text += std::string(c.summary) + "\n";
  }
  text +=
      "\nrun `xgw COMMAND --help` for a command's flags.\n"
      "\nenvironment:\n"
      "  XGW_PASSPHRASE_FILE  read passphrases from the first line of this file instead of\n"
      "                       prompting on the terminal (for automation; keep it mode 0600)\n"
      "  XGW_CONFIG           the client configuration file (default\n"
      "                       $XDG_CONFIG_HOME/xgw/config.json); --config FILE overrides it\n"
      "\nexit codes:\n"
      "  0  success\n"
      "  1  the operation failed (malformed or tampered input, wrong key, I/O error);\n"
      "     `xgw: error: CLASS: ...` names the failure class\n"
      "  2  usage error (bad flags or arguments); nothing was done\n"
      "  3  refused by policy: the protocol does not allow it; nothing was sent\n"
      "  4  not authorised: token refused, or your role does not allow it\n"
      "  5  network or TLS failure (gateway unreachable, key does not match the pin)\n"
      "  6  a received list failed verification; nothing was written, the gateway was told\n"
      "\nsee docs/cli.md for every command.\n";
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
    if (c.name == name) return RunGuarded(c.run, std::span<char* const>(argv + 2, static_cast<size_t>(argc - 2)));
  }
  std::fprintf(stderr, "xgw: error: unknown command \"%s\"\nxgw: hint: run `xgw --help` for the list\n",
               std::string(name).c_str());
  return kExitUsage;
}
