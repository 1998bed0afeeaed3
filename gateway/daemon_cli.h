// Command line of xgwd:
//   xgwd init --state DIR [--config FILE] [--listen ADDR]
//   xgwd serve -c FILE [--port-file PATH]      (also: xgwd -c FILE)
//   xgwd --check-config -c FILE                (also: -t; like sshd -t)
//   xgwd --dump-config -c FILE                 (also: -T; like sshd -T)
//   xgwd --version | --help
#ifndef XGW_GATEWAY_DAEMON_CLI_H_
#define XGW_GATEWAY_DAEMON_CLI_H_

namespace xgw {

// Returns the process exit code: 0 success, 1 runtime failure, 2 usage error.
int XgwdMain(int argc, char** argv);

}  // namespace xgw

#endif  // XGW_GATEWAY_DAEMON_CLI_H_
