// Factories of the operators, one per file in csrc/ops/.
#pragma once
#include <memory>

#include "ops/op.h"

namespace aio {
// gate: the MUL (x * gate) whose output a pointwise conv reads (fusion.h), or nullptr.
std::unique_ptr<Op> make_conv2d(const ModelFile& m, const NodeDesc& n, const OpOptions& opts,
                                const NodeDesc* gate = nullptr);  // conv2d.cpp
std::unique_ptr<Op> make_linear(const ModelFile& m, const NodeDesc& n);  // linear.cpp
std::unique_ptr<Op> make_add(const ModelFile& m, const NodeDesc& n);     // add.cpp
std::unique_ptr<Op> make_act(const ModelFile& m, const NodeDesc& n);     // act.cpp
std::unique_ptr<Op> make_pool(const ModelFile& m, const NodeDesc& n);    // pool.cpp
std::unique_ptr<Op> make_global_avgpool(const ModelFile& m,
                                        const NodeDesc& n);  // global_avgpool.cpp
std::unique_ptr<Op> make_mul(const ModelFile& m, const NodeDesc& n);      // mul.cpp
std::unique_ptr<Op> make_softmax(const ModelFile& m, const NodeDesc& n);  // softmax.cpp
std::unique_ptr<Op> make_resize(const ModelFile& m, const NodeDesc& n);   // resize.cpp
// f: which inputs are views of the output, written in place (fusion.h).
std::unique_ptr<Op> make_concat(const ModelFile& m, const NodeDesc& n,
                                const Fusions& f);  // concat.cpp
// A CONV2D whose input is a levelled concatenation.
std::unique_ptr<Op> make_concat_conv(const ModelFile& m, const NodeDesc& n);  // concat_conv.cpp
}  // namespace aio
