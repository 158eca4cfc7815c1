#include "agent/app/version.h"
