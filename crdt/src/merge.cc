#include "conect/crdt/merge.h"
