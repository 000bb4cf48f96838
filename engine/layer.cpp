#include "engine/layer.h"

namespace plasmo {

void Layer::describe(const std::string& name, const Shape& in, std::vector<LayerInfo>& out) const {
  LayerInfo info;
  info.name = name;
  info.summary = summary();
  Shape one = in;
  one[0] = 1;
  info.out_shape = out_shape(one);
  std::vector<Param> ps;
  const_cast<Layer*>(this)->params("", ps);  // params() is non-const only because it hands out pointers
  for (const Param& p : ps) info.params += static_cast<int64_t>(p.value->size());
  info.macs = macs(one);
  out.push_back(info);
}

}  // namespace plasmo
