// The one compiled copy of stb_image (Debian libstb-dev's header), PNG and JPEG only, so plasmo's
// binaries need no libstb at run time. Nothing else in plasmo includes stb_image's implementation.
// stb's own STBI_MAX_DIMENSIONS (2^24) is left as is: decode.cpp reads the size with stbi_info and
// refuses anything over kMaxImageSide with a clear reason before stb allocates pixel memory.
//
// Every stb allocation is zero-filled (calloc): stb_image 2.27 decodes a corrupt progressive JPEG with
// a Huffman table the file never defined, reading uninitialised memory (an assert or out-of-bounds
// index under fuzz/fuzz_decode.cpp). An all-zero table is harmless: every lookup hits the fast path
// and decodes symbol 0 with 0 bits, so the scan ends and the garbage image is just garbage.
// The Makefile compiles this file with -fwrapv: a corrupt progressive JPEG can sum its DC deltas past
// INT_MAX, which then wraps (defined) instead of being undefined behaviour.
#include <cstdlib>
#define STBI_MALLOC(size) std::calloc(1, size)
#define STBI_REALLOC(pointer, size) std::realloc(pointer, size)
#define STBI_FREE(pointer) std::free(pointer)
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO  // plasmo reads files itself (decode.cpp); stb only sees memory
#define STBI_NO_LINEAR
#define STBI_NO_HDR

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
