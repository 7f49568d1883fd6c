#!/bin/sh
# onnx_conformance.sh — runs the ONNX backend node tests (Debian's libonnx-testdata) for the ops an
# Inception network uses, through `incept onnx-test`. The list is the cases the engine supports; the
# rest of the suite (1-D/3-D pooling, batch-changing reshapes, broadcasting, ConvTranspose...) is out of
# scope and listed by `incept onnx-test /usr/share/libonnx-testdata/data/node`.
# Usage: onnx_conformance.sh INCEPT_BINARY. Exit 77 (ctest: skipped) without the test data.
INCEPT=${1:?usage: onnx_conformance.sh INCEPT_BINARY}
NODE=${ONNX_TESTDATA:-/usr/share/libonnx-testdata/data/node}
if [ ! -d "$NODE" ]; then
    echo "SKIPPED: $NODE is missing (apt-get install libonnx-testdata, or set ONNX_TESTDATA)"
    exit 77
fi
cd "$NODE" || exit 1
exec "$INCEPT" onnx-test \
    test_relu test_basic_conv_with_padding test_basic_conv_without_padding \
    test_conv_with_autopad_same test_conv_with_strides_and_asymmetric_padding \
    test_conv_with_strides_no_padding test_conv_with_strides_padding \
    test_maxpool_1d_default test_maxpool_2d_ceil test_maxpool_2d_default test_maxpool_2d_dilations \
    test_maxpool_2d_pads \
    test_maxpool_2d_precomputed_pads test_maxpool_2d_precomputed_same_upper \
    test_maxpool_2d_precomputed_strides test_maxpool_2d_same_lower test_maxpool_2d_same_upper \
    test_maxpool_2d_strides \
    test_averagepool_1d_default test_averagepool_2d_ceil test_averagepool_2d_default \
    test_averagepool_2d_pads \
    test_averagepool_2d_pads_count_include_pad test_averagepool_2d_precomputed_pads \
    test_averagepool_2d_precomputed_pads_count_include_pad test_averagepool_2d_precomputed_same_upper \
    test_averagepool_2d_precomputed_strides test_averagepool_2d_same_lower \
    test_averagepool_2d_same_upper test_averagepool_2d_strides \
    test_globalaveragepool test_globalaveragepool_precomputed test_lrn test_lrn_default \
    test_gemm_alpha test_gemm_beta test_gemm_default_no_bias test_gemm_default_vector_bias \
    test_gemm_default_zero_bias test_gemm_default_scalar_bias test_gemm_default_single_elem_vector_bias \
    test_gemm_transposeB test_matmul_2d \
    test_softmax_axis_1 test_softmax_axis_2 test_softmax_default_axis test_softmax_negative_axis \
    test_softmax_example test_softmax_large_number \
    test_flatten_axis1 test_flatten_default_axis test_flatten_negative_axis3 \
    test_dropout_default test_dropout_default_old test_dropout_default_ratio test_dropout_random_old \
    test_batchnorm_epsilon test_batchnorm_example test_identity test_constant_pad test_sum_one_input \
    test_reshape_extended_dims test_reshape_negative_dim test_reshape_reduced_dims \
    test_reshape_reordered_last_dims test_reshape_zero_and_negative_dim test_reshape_zero_dim \
    test_unsqueeze_axis_1 test_unsqueeze_axis_2 test_unsqueeze_axis_3
