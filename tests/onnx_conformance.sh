#!/bin/sh
# onnx_conformance.sh — runs the ONNX backend node tests (Debian's libonnx-testdata) of the ops the
# Inception models people have use (issue 5's list: Conv, MaxPool, AveragePool, LRN, Concat, Relu,
# Gemm, MatMul, Softmax, Dropout, BatchNormalization, Flatten, GlobalAveragePool, Reshape, Identity,
# Pad, Add, Mul, Sum, Gather, Unsqueeze, Constant; and Clip) through `incept onnx-test`. Every case runs
# through the one engine as incept_model_load_onnx builds it (the NCHW fast path where it takes a
# node, the generic N-d path after) and, where every op has an N-d reference, all on the generic
# path; ENGINE_CASES must also run all on the fast path (one NCHW activation input) and match.
# Cases with uint8 data or sequence/optional values are skipped by onnx-test. The rest of the
# suite is out of scope and listed by `incept onnx-test /usr/share/libonnx-testdata/data/node`.
# Usage: onnx_conformance.sh INCEPT_BINARY. Exit 77 (ctest: skipped) without the test data.
INCEPT=${1:?usage: onnx_conformance.sh INCEPT_BINARY}
NODE=${ONNX_TESTDATA:-/usr/share/libonnx-testdata/data/node}
if [ ! -d "$NODE" ]; then
    echo "SKIPPED: $NODE is missing (apt-get install libonnx-testdata, or set ONNX_TESTDATA)"
    exit 77
fi
cd "$NODE" || exit 1
ENGINE_CASES="
    test_relu test_basic_conv_with_padding test_basic_conv_without_padding \
    test_conv_with_autopad_same test_conv_with_strides_and_asymmetric_padding \
    test_conv_with_strides_no_padding test_conv_with_strides_padding test_maxpool_1d_default \
    test_maxpool_2d_ceil test_maxpool_2d_default test_maxpool_2d_dilations test_maxpool_2d_pads \
    test_maxpool_2d_precomputed_pads test_maxpool_2d_precomputed_same_upper \
    test_maxpool_2d_precomputed_strides test_maxpool_2d_same_lower test_maxpool_2d_same_upper \
    test_maxpool_2d_strides test_averagepool_1d_default test_averagepool_2d_ceil \
    test_averagepool_2d_default test_averagepool_2d_pads test_averagepool_2d_pads_count_include_pad \
    test_averagepool_2d_precomputed_pads test_averagepool_2d_precomputed_pads_count_include_pad \
    test_averagepool_2d_precomputed_same_upper test_averagepool_2d_precomputed_strides \
    test_averagepool_2d_same_lower test_averagepool_2d_same_upper test_averagepool_2d_strides \
    test_globalaveragepool test_globalaveragepool_precomputed test_lrn test_lrn_default \
    test_gemm_alpha test_gemm_beta test_gemm_default_no_bias test_gemm_default_vector_bias \
    test_gemm_default_zero_bias test_gemm_default_scalar_bias \
    test_gemm_default_single_elem_vector_bias test_gemm_transposeB test_matmul_2d \
    test_softmax_axis_1 test_softmax_axis_2 test_softmax_default_axis test_softmax_negative_axis \
    test_softmax_example test_softmax_large_number test_flatten_axis1 test_flatten_default_axis \
    test_flatten_negative_axis3 test_dropout_default test_dropout_default_old \
    test_dropout_default_ratio test_dropout_random_old test_batchnorm_epsilon \
    test_batchnorm_example test_identity test_constant_pad test_sum_one_input \
    test_reshape_extended_dims test_reshape_negative_dim test_reshape_reduced_dims \
    test_reshape_reordered_last_dims test_reshape_zero_and_negative_dim test_reshape_zero_dim \
    test_unsqueeze_axis_1 test_unsqueeze_axis_2 test_unsqueeze_axis_3 \
    test_clip_default_inbounds test_clip_example test_clip_inbounds test_clip_outbounds \
    test_clip_splitbounds test_clip test_clip_default_max test_clip_default_min"
GENERIC_CASES="
    test_add test_add_uint8 test_averagepool_3d_default test_batchnorm_epsilon_training_mode \
    test_batchnorm_example_training_mode test_concat_1d_axis_0 test_concat_1d_axis_negative_1 \
    test_concat_2d_axis_0 test_concat_2d_axis_1 test_concat_2d_axis_negative_1 \
    test_concat_2d_axis_negative_2 test_concat_3d_axis_0 test_concat_3d_axis_1 \
    test_concat_3d_axis_2 test_concat_3d_axis_negative_1 test_concat_3d_axis_negative_2 \
    test_concat_3d_axis_negative_3 test_constant test_dropout_default_mask \
    test_dropout_default_mask_ratio test_edge_pad test_flatten_axis0 test_flatten_axis2 \
    test_flatten_axis3 test_flatten_negative_axis1 test_flatten_negative_axis2 \
    test_flatten_negative_axis4 test_gather_0 test_gather_1 test_gather_2d_indices \
    test_gather_negative_indices test_gemm_all_attributes test_gemm_default_matrix_bias \
    test_gemm_transposeA test_identity_opt test_identity_sequence test_matmul_3d test_matmul_4d \
    test_maxpool_2d_uint8 test_maxpool_3d_default test_maxpool_with_argmax_2d_precomputed_pads \
    test_maxpool_with_argmax_2d_precomputed_strides test_mul test_mul_example test_mul_uint8 \
    test_reflect_pad test_reshape_negative_extended_dims test_reshape_one_dim \
    test_reshape_reordered_all_dims test_softmax_axis_0 test_sum_example test_sum_two_inputs \
    test_unsqueeze_axis_0 test_unsqueeze_negative_axes test_unsqueeze_three_axes \
    test_unsqueeze_two_axes test_unsqueeze_unsorted_axes"
# shellcheck disable=SC2086
report=$("$INCEPT" onnx-test $ENGINE_CASES $GENERIC_CASES)
status=$?
echo "$report"
for c in $ENGINE_CASES; do
    if ! echo "$report" | grep -q "^PASS $c \[fast+generic\]"; then
        echo "FAIL $c: did not pass through the fast path"
        status=1
    fi
done
exit $status
