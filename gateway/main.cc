// xgwd: the xgw gateway daemon. See gateway/daemon_cli.h for the command line.
#include "crypto/secret.h"
#include "gateway/daemon_cli.h"

int main(int argc, char** argv) {
  xgw::DisableCoreDumps();
  return xgw::XgwdMain(argc, argv);
}
