/* The one C header of nexus_store, from the repository's include/ folder. */
#include "../../../../include/nexus_store.h"
