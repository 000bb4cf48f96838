#include "engine/kernels/kernels.h"

namespace plasmo::kernels {

ConvGeom make_conv_geom(int batch, int in_channels, int in_h, int in_w, int out_channels, int kernel, int stride,
                        int pad, int groups) {
  ConvGeom g;
  g.batch = batch;
  g.in_channels = in_channels;
  g.in_h = in_h;
  g.in_w = in_w;
  g.out_channels = out_channels;
  g.kernel_h = g.kernel_w = kernel;
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = pad;
  g.groups = groups;
  g.out_h = (in_h + 2 * pad - kernel) / stride + 1;
  g.out_w = (in_w + 2 * pad - kernel) / stride + 1;
  return g;
}

PoolGeom make_pool_geom(int planes, int in_h, int in_w, int kernel, int stride, int pad) {
  PoolGeom g;
  g.planes = planes;
  g.in_h = in_h;
  g.in_w = in_w;
  g.kernel_h = g.kernel_w = kernel;
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = pad;
  g.out_h = (in_h + 2 * pad - kernel) / stride + 1;
  g.out_w = (in_w + 2 * pad - kernel) / stride + 1;
  return g;
}

}  // namespace plasmo::kernels
