#include "agent/version.h"
