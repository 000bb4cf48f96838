// The one compiled copy of stb_image_write (Debian libstb-dev's header), used by the synthetic cell
// generator (synth.cpp) and the tests to write PNGs. Files are written by plasmo itself
// (stbi_write_png_to_func), so stdio support is left out. Its JPEG writer left-shifts negative ints (UB
// before C++20, harmless in practice): the Makefile builds this file without UBSan's shift check.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
