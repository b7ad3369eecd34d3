/*
 * Link stubs that let the TensorRT Python bindings wheels (tensorrt-cu12-bindings /
 * tensorrt-cu13-bindings) be imported on a machine without TensorRT's native libraries, so that
 * tests can introspect every class, enum and method signature of the real Python API.
 *
 * Compiled at test time into libnvinfer.so.N, libnvonnxparser.so.N and libnvinfer_plugin.so.N
 * (the same object under the three names). Every factory returns NULL and nothing here can run
 * a network: creating a Builder or Runtime through these stubs is an error, never do it.
 */
#include <stddef.h>

void *createInferBuilder_INTERNAL(void *logger, int version) { (void)logger; (void)version; return NULL; }
void *createInferRuntime_INTERNAL(void *logger, int version) { (void)logger; (void)version; return NULL; }
void *createInferRefitter_INTERNAL(void *engine, void *logger, int version)
{ (void)engine; (void)logger; (void)version; return NULL; }
void *createNvOnnxParser_INTERNAL(void *network, void *logger, int version)
{ (void)network; (void)logger; (void)version; return NULL; }
void *createNvOnnxParserRefitter_INTERNAL(void *refitter, void *logger, int version)
{ (void)refitter; (void)logger; (void)version; return NULL; }
void *getPluginRegistry(void) { return NULL; }
void *getBuilderPluginRegistry(int capability) { (void)capability; return NULL; }
int getNvOnnxParserVersion(void) { return 0; }
int initLibNvInferPlugins(void *logger, const char *ns) { (void)logger; (void)ns; return 0; }
