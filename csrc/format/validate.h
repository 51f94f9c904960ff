// Graph and shape rules of docs/format.md ("Shape rules the reader checks"), run by parse_model
// after the container is known to be intact.
#pragma once
#include "format/model_file.h"

namespace aio {
// Throws aio::Error(ErrorCode::Format) naming the first broken rule (e.g. the node index, op and
// name). Requires the records' own bounds (tensor extents, string indices) already checked.
void validate_model(const ModelFile& m);
}  // namespace aio
