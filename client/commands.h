// The xgw subcommands. Each command group lives in its own cmd_*.cc file and
// exposes one Run function per subcommand; main.cc dispatches through the
// table returned by Commands(). To add a command: write Run<Name>, declare it
// here and add a row to the table in main.cc.
#ifndef XGW_CLIENT_COMMANDS_H_
#define XGW_CLIENT_COMMANDS_H_

#include <span>
#include <string_view>

namespace xgw::cli {

// args excludes the program and subcommand names. Returns the exit code.
using CommandFn = int (*)(std::span<char* const> args);

struct Command {
  std::string_view name;
  std::string_view summary;  // one line for `xgw --help`
  CommandFn run;
};

std::span<const Command> Commands();

// cmd_keys.cc
int RunKeygen(std::span<char* const> args);
// cmd_age.cc
int RunEncrypt(std::span<char* const> args);
int RunDecrypt(std::span<char* const> args);
// cmd_session.cc
int RunLogin(std::span<char* const> args);
int RunEnrol(std::span<char* const> args);
int RunLogout(std::span<char* const> args);
int RunPassword(std::span<char* const> args);
int RunWhoami(std::span<char* const> args);
int RunRegisterKey(std::span<char* const> args);
// cmd_key_custody.cc
int RunKey(std::span<char* const> args);
// cmd_exchange.cc
int RunProtocols(std::span<char* const> args);
int RunProtocolShow(std::span<char* const> args);
int RunSend(std::span<char* const> args);
int RunInbox(std::span<char* const> args);
int RunReceive(std::span<char* const> args);
int RunAck(std::span<char* const> args);
int RunRevoke(std::span<char* const> args);
// cmd_audit.cc
int RunAudit(std::span<char* const> args);
// cmd_admin.cc
int RunOrg(std::span<char* const> args);
int RunUser(std::span<char* const> args);
int RunToken(std::span<char* const> args);
int RunProtocol(std::span<char* const> args);
int RunClock(std::span<char* const> args);

}  // namespace xgw::cli

#endif  // XGW_CLIENT_COMMANDS_H_
