#ifndef CHAND_CLIBUV_SHIM_H
#define CHAND_CLIBUV_SHIM_H
#include <uv.h>
#endif
