// Factories of the operators, one per file in csrc/ops/.
#pragma once
#include <memory>

#include "ops/op.h"

namespace aio {
std::unique_ptr<Op> make_conv2d(const ModelFile& m, const NodeDesc& n,
                                const OpOptions& opts);  // conv2d.cpp
std::unique_ptr<Op> make_linear(const ModelFile& m, const NodeDesc& n);  // linear.cpp
std::unique_ptr<Op> make_add(const ModelFile& m, const NodeDesc& n);     // add.cpp
std::unique_ptr<Op> make_act(const ModelFile& m, const NodeDesc& n);     // act.cpp
std::unique_ptr<Op> make_pool(const ModelFile& m, const NodeDesc& n);    // pool.cpp
std::unique_ptr<Op> make_global_avgpool(const ModelFile& m,
                                        const NodeDesc& n);  // global_avgpool.cpp
std::unique_ptr<Op> make_mul(const ModelFile& m, const NodeDesc& n);      // mul.cpp
std::unique_ptr<Op> make_softmax(const ModelFile& m, const NodeDesc& n);  // softmax.cpp
std::unique_ptr<Op> make_resize(const ModelFile& m, const NodeDesc& n);   // resize.cpp
}  // namespace aio
