/*
 * Extra link stubs for the TensorRT 8.x Python bindings (tensorrt-bindings 8.6), which also link the
 * legacy UFF and Caffe parsers (libnvparsers.so.8). The symbols are the C++ (Itanium-mangled) names of
 * nvuffparser::createUffParser(), nvuffparser::FieldMap::FieldMap(char const*, void const*, FieldType,
 * int), nvcaffeparser1::createCaffeParser() and nvcaffeparser1::shutdownProtobufLibrary(), written as
 * plain C identifiers. Import-only: they return NULL / do nothing.
 */
#include <stddef.h>

void *_ZN11nvuffparser15createUffParserEv(void) { return NULL; }
void _ZN11nvuffparser8FieldMapC1EPKcPKvNS_9FieldTypeEi(void *self, const char *name, const void *data, int type,
                                                        int length)
{ (void)self; (void)name; (void)data; (void)type; (void)length; }
void *_ZN14nvcaffeparser117createCaffeParserEv(void) { return NULL; }
void _ZN14nvcaffeparser123shutdownProtobufLibraryEv(void) { }
