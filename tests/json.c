/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict JSON reader for test tools (see json.h): recursive descent over the
 * grammar of RFC 8259 §2–§7. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (mor-test-json-error-quark, json_error)

typedef struct {
  const char *p, *start, *end;
  GError **error;
} Parser;

static gboolean
fail (Parser *ps, const char *what)
{
  guint line = 1, column = 1;
  for (const char *q = ps->start; q < ps->p; q++) {
    if (*q == '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  g_set_error (ps->error, JSON_ERROR, 0, "JSON line %u column %u: %s", line, column, what);
  return FALSE;
}

static void
skip_ws (Parser *ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static gboolean
literal (Parser *ps, const char *word)
{
  gsize n = strlen (word);
  if ((gsize) (ps->end - ps->p) < n || memcmp (ps->p, word, n) != 0)
    return fail (ps, "expected a value");
  ps->p += n;
  return TRUE;
}

static int
hex4 (Parser *ps)
{
  if (ps->end - ps->p < 4)
    return -1;
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int d = g_ascii_xdigit_value (ps->p[i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  ps->p += 4;
  return v;
}

/* UTF-8, where a NUL (from \u0000) counts as a character. */
static gboolean
valid_utf8 (const char *s, gsize len)
{
  const char *end;
  while (!g_utf8_validate_len (s, len, &end)) {
    if (*end != '\0')
      return FALSE;
    len -= end + 1 - s;
    s = end + 1;
  }
  return TRUE;
}

static gboolean
parse_string (Parser *ps, JsonValue *v)
{
  ps->p++;                                  /* the opening quote */
  GString *s = g_string_new (NULL);
  for (;;) {
    if (ps->p >= ps->end) {
      g_string_free (s, TRUE);
      return fail (ps, "unterminated string");
    }
    guint8 c = *ps->p;
    if (c == '"') {
      ps->p++;
      break;
    }
    if (c < 0x20) {
      g_string_free (s, TRUE);
      return fail (ps, "control character in a string");
    }
    if (c != '\\') {
      /* Copy a run of plain bytes; UTF-8 is checked once at the end. */
      const char *q = ps->p;
      while (q < ps->end && *q != '"' && *q != '\\' && (guint8) *q >= 0x20)
        q++;
      g_string_append_len (s, ps->p, q - ps->p);
      ps->p = q;
      continue;
    }
    ps->p++;
    if (ps->p >= ps->end) {
      g_string_free (s, TRUE);
      return fail (ps, "unterminated escape");
    }
    char e = *ps->p++;
    switch (e) {
    case '"': g_string_append_c (s, '"'); break;
    case '\\': g_string_append_c (s, '\\'); break;
    case '/': g_string_append_c (s, '/'); break;
    case 'b': g_string_append_c (s, '\b'); break;
    case 'f': g_string_append_c (s, '\f'); break;
    case 'n': g_string_append_c (s, '\n'); break;
    case 'r': g_string_append_c (s, '\r'); break;
    case 't': g_string_append_c (s, '\t'); break;
    case 'u': {
      int u = hex4 (ps);
      if (u < 0) {
        g_string_free (s, TRUE);
        return fail (ps, "bad \\u escape");
      }
      gunichar cp = u;
      if (u >= 0xD800 && u <= 0xDBFF) {
        int lo = -1;
        if (ps->end - ps->p >= 2 && ps->p[0] == '\\' && ps->p[1] == 'u') {
          ps->p += 2;
          lo = hex4 (ps);
        }
        if (lo < 0xDC00 || lo > 0xDFFF) {
          g_string_free (s, TRUE);
          return fail (ps, "lone high surrogate in a \\u escape");
        }
        cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        g_string_free (s, TRUE);
        return fail (ps, "lone low surrogate in a \\u escape");
      }
      if (cp == 0)
        g_string_append_c (s, '\0');
      else
        g_string_append_unichar (s, cp);
      break;
    }
    default:
      g_string_free (s, TRUE);
      return fail (ps, "unknown escape");
    }
  }
  if (!valid_utf8 (s->str, s->len)) {
    g_string_free (s, TRUE);
    return fail (ps, "string is not valid UTF-8");
  }
  v->type = JSON_STRING;
  v->len = s->len;
  v->string = g_string_free (s, FALSE);
  return TRUE;
}

static gboolean
parse_number (Parser *ps, JsonValue *v)
{
  const char *q = ps->p;
  if (q < ps->end && *q == '-')
    q++;
  if (q >= ps->end || !g_ascii_isdigit (*q))
    return fail (ps, "expected a value");
  if (*q == '0')
    q++;
  else
    while (q < ps->end && g_ascii_isdigit (*q))
      q++;
  if (q < ps->end && *q == '.') {
    q++;
    if (q >= ps->end || !g_ascii_isdigit (*q))
      return fail (ps, "expected digits after '.'");
    while (q < ps->end && g_ascii_isdigit (*q))
      q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < ps->end && (*q == '+' || *q == '-'))
      q++;
    if (q >= ps->end || !g_ascii_isdigit (*q))
      return fail (ps, "expected digits in an exponent");
    while (q < ps->end && g_ascii_isdigit (*q))
      q++;
  }
  g_autofree char *copy = g_strndup (ps->p, q - ps->p);
  v->type = JSON_NUMBER;
  v->number = g_ascii_strtod (copy, NULL);
  ps->p = q;
  return TRUE;
}

static gboolean parse_value (Parser *ps, JsonValue *v, guint depth);

static void
free_value (gpointer v)
{
  json_free (v);
}

static gboolean
parse_container (Parser *ps, JsonValue *v, guint depth, gboolean object)
{
  char close = object ? '}' : ']';
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (free_value);
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (free_value);
  ps->p++;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
  } else {
    for (;;) {
      skip_ws (ps);
      g_autoptr (JsonValue) key = NULL;
      if (object) {
        key = g_new0 (JsonValue, 1);
        if (ps->p >= ps->end || *ps->p != '"')
          return fail (ps, "expected a member name");
        if (!parse_string (ps, key))
          return FALSE;
        skip_ws (ps);
        if (ps->p >= ps->end || *ps->p != ':')
          return fail (ps, "expected ':'");
        ps->p++;
      }
      g_autoptr (JsonValue) item = g_new0 (JsonValue, 1);
      if (!parse_value (ps, item, depth + 1))
        return FALSE;
      g_ptr_array_add (items, g_steal_pointer (&item));
      if (object)
        g_ptr_array_add (keys, g_steal_pointer (&key));
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        continue;
      }
      if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        break;
      }
      return fail (ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  v->type = object ? JSON_OBJECT : JSON_ARRAY;
  v->n = items->len;
  g_ptr_array_set_free_func (items, NULL);
  v->items = (JsonValue **) g_ptr_array_free (g_steal_pointer (&items), FALSE);
  if (object) {
    g_ptr_array_set_free_func (keys, NULL);
    v->keys = (JsonValue **) g_ptr_array_free (g_steal_pointer (&keys), FALSE);
  }
  return TRUE;
}

static gboolean
parse_value (Parser *ps, JsonValue *v, guint depth)
{
  if (depth > JSON_MAX_DEPTH)
    return fail (ps, "nested too deeply");
  skip_ws (ps);
  if (ps->p >= ps->end)
    return fail (ps, "expected a value");
  switch (*ps->p) {
  case '{': return parse_container (ps, v, depth, TRUE);
  case '[': return parse_container (ps, v, depth, FALSE);
  case '"': return parse_string (ps, v);
  case 't': v->type = JSON_BOOL; v->boolean = TRUE; return literal (ps, "true");
  case 'f': v->type = JSON_BOOL; v->boolean = FALSE; return literal (ps, "false");
  case 'n': v->type = JSON_NULL; return literal (ps, "null");
  default: return parse_number (ps, v);
  }
}

JsonValue *
json_parse (const char *text, gsize len, GError **error)
{
  g_return_val_if_fail (text != NULL || len == 0, NULL);
  Parser ps = { text, text, text + len, error };
  JsonValue *v = g_new0 (JsonValue, 1);
  if (!parse_value (&ps, v, 0)) {
    json_free (v);
    return NULL;
  }
  skip_ws (&ps);
  if (ps.p != ps.end) {
    fail (&ps, "text after the value");
    json_free (v);
    return NULL;
  }
  return v;
}

void
json_free (JsonValue *v)
{
  if (v == NULL)
    return;
  g_free (v->string);
  if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
    for (guint i = 0; i < v->n; i++)
      json_free (v->items[i]);
    g_free (v->items);
  }
  if (v->type == JSON_OBJECT && v->keys) {
    for (guint i = 0; i < v->n; i++)
      json_free (v->keys[i]);
    g_free (v->keys);
  }
  g_free (v);
}

const JsonValue *
json_get (const JsonValue *obj, const char *key)
{
  if (obj == NULL || obj->type != JSON_OBJECT)
    return NULL;
  gsize len = strlen (key);
  for (guint i = 0; i < obj->n; i++) {
    if (obj->keys[i]->len == len && memcmp (obj->keys[i]->string, key, len) == 0)
      return obj->items[i];
  }
  return NULL;
}

const char *
json_get_string (const JsonValue *obj, const char *key)
{
  const JsonValue *v = json_get (obj, key);
  return v && v->type == JSON_STRING ? v->string : NULL;
}
