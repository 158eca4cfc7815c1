#include "checks/common/version.h"
