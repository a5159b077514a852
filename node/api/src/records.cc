#include "api.h"

namespace conect::api {

void add_record_routes(Router&, HandlerEnv&) {}

}  // namespace conect::api
