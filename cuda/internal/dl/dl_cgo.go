//go:build linux && cgo

package dl

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

// One cgo call per operation, so dlerror is read on the thread that set it.
static void* tess_dlopen(const char* path, int global, char* err, int errlen) {
	int flags = RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL);
	void* h = dlopen(path, flags);
	if (!h) {
		const char* e = dlerror();
		strncpy(err, e ? e : "dlopen failed", errlen - 1);
		err[errlen - 1] = 0;
	}
	return h;
}

static void* tess_dlsym(void* h, const char* name, char* err, int errlen) {
	dlerror();
	void* p = dlsym(h, name);
	if (!p) {
		const char* e = dlerror();
		strncpy(err, e ? e : "symbol not found", errlen - 1);
		err[errlen - 1] = 0;
	}
	return p;
}

static int tess_origin(void* h, char* out, int outlen) {
	struct link_map* lm = 0;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name) return 0;
	strncpy(out, lm->l_name, outlen - 1);
	out[outlen - 1] = 0;
	return 1;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Supported reports whether this build can dlopen libraries.
const Supported = true

func dlopen(path string, global bool) (unsafe.Pointer, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var ebuf [512]C.char
	g := C.int(0)
	if global {
		g = 1
	}
	h := C.tess_dlopen(cp, g, &ebuf[0], C.int(len(ebuf)))
	if h == nil {
		return nil, errors.New(C.GoString(&ebuf[0]))
	}
	return h, nil
}

func dlsym(h unsafe.Pointer, name string) (unsafe.Pointer, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var ebuf [512]C.char
	p := C.tess_dlsym(h, cn, &ebuf[0], C.int(len(ebuf)))
	if p == nil {
		return nil, errors.New(C.GoString(&ebuf[0]))
	}
	return p, nil
}

func originOf(h unsafe.Pointer, fallback string) string {
	var buf [4096]C.char
	if C.tess_origin(h, &buf[0], C.int(len(buf))) == 0 {
		return fallback
	}
	if s := C.GoString(&buf[0]); s != "" {
		return s
	}
	return fallback
}
