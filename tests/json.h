/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small, strict JSON reader (RFC 8259) for test tools that read Hugging
 * Face tokenizer.json files. Not part of libmor: the model converter, not the
 * runtime, reads JSON. Strict: UTF-8 only, no comments, no trailing commas,
 * no lone surrogates, nesting limited to JSON_MAX_DEPTH, nothing after the
 * value. Numbers are doubles. */
#pragma once

#include <glib.h>

#define JSON_MAX_DEPTH 64

#define JSON_ERROR (json_error_quark ())
GQuark json_error_quark (void);

typedef enum {
  JSON_NULL,
  JSON_BOOL,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT,
} JsonType;

typedef struct _JsonValue JsonValue;

struct _JsonValue {
  JsonType type;
  gboolean boolean;             /* JSON_BOOL */
  double number;                /* JSON_NUMBER */
  char *string;                 /* JSON_STRING: NUL-terminated UTF-8 (may also hold \u0000) */
  gsize len;                    /* JSON_STRING: bytes, without the NUL */
  guint n;                      /* JSON_ARRAY, JSON_OBJECT: elements or members */
  JsonValue **items;            /* JSON_ARRAY: elements; JSON_OBJECT: member values */
  JsonValue **keys;             /* JSON_OBJECT: member names (JSON_STRING values), in file order */
};

/* Parses @len bytes of @text. Returns: (transfer full): the value (json_free()
 * it), or NULL with @error set (JSON_ERROR, code 0) naming the line and column. */
JsonValue *json_parse (const char *text, gsize len, GError **error);
void json_free (JsonValue *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JsonValue, json_free)

/* The first member @key of object @obj; NULL if @obj is NULL or not an
 * object, or has no such member. */
const JsonValue *json_get (const JsonValue *obj, const char *key);
/* json_get() of a string member: its text, or NULL. */
const char *json_get_string (const JsonValue *obj, const char *key);
