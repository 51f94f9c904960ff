// Graph and shape rules of docs/format.md ("Shape rules the reader checks"), run by parse_model
// after the container is known to be intact.
#pragma once
#include "format/model_file.h"

namespace aio {
// Throws aio::Error(ErrorCode::Format) naming the first broken rule (e.g. the node index, op and
// name). Requires the records' own bounds (tensor extents, string indices) already checked.
// Fills m.concat_index and m.concat_widths (the levels of concatenations).
void validate_model(ModelFile& m);
}  // namespace aio
