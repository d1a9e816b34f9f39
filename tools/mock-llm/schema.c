/*
 * mock-llm example values of JSON schemas: the arguments of a tool call and
 * the content of a structured (json_schema) answer.
 *
 * Minimal on purpose: a value that validates against the schemas clients
 * really send (the OpenAI and Anthropic SDKs' generated ones: objects with
 * required properties, $defs and $ref, anyOf with null, enums, arrays), so
 * that an SDK's parse() accepts it. Not a general JSON Schema generator.
 */
#include <stdio.h>
#include <string.h>
#include "mock.h"

/* Deeper schemas (or $ref cycles) end in null rather than recursing on. */
#define MAX_DEPTH 24
#define MAX_ITEMS 8

static json_t *example(json_t *schema, json_t *root, int depth);

/* Resolves a local reference, "#/$defs/Name" or any "#/a/b" pointer. */
static json_t *resolve(json_t *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    json_t *node = root;
    const char *p = ref + 1;
    while (*p == '/' && node != NULL) {
        char key[256];
        size_t len = 0;
        for (p++; *p != '\0' && *p != '/'; p++) {
            char c = *p;
            if (c == '~' && (p[1] == '0' || p[1] == '1'))
                c = *++p == '0' ? '~' : '/';
            if (len + 1 >= sizeof(key))
                return NULL;
            key[len++] = c;
        }
        key[len] = '\0';
        node = json_object_get(node, key);
    }
    return *p == '\0' ? node : NULL;
}

/* The first of `type` (a string or an array of them) that is not "null". */
static const char *schema_type(json_t *schema)
{
    json_t *type = json_object_get(schema, "type");
    if (json_is_string(type))
        return json_string_value(type);
    const char *first = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(type, i, t) {
        if (!json_is_string(t))
            continue;
        if (strcmp(json_string_value(t), "null") != 0)
            return json_string_value(t);
        first = json_string_value(t);
    }
    if (first != NULL)
        return first;
    if (json_object_get(schema, "properties") != NULL)
        return "object";
    if (json_object_get(schema, "items") != NULL)
        return "array";
    return NULL;
}

static json_t *string_example(json_t *schema)
{
    static const struct {
        const char *format, *value;
    } formats[] = {
        {"date-time", "2024-01-01T00:00:00Z"}, {"date", "2024-01-01"}, {"time", "00:00:00"},
        {"email", "mock@example.com"}, {"uri", "https://example.com/"}, {"uuid", "00000000-0000-4000-8000-000000000000"},
    };
    const char *format = mock_json_string(schema, "format");
    for (size_t i = 0; format != NULL && i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(format, formats[i].format) == 0)
            return json_string(formats[i].value);
    }
    char text[65] = "mock";
    size_t len = 4;
    json_t *min = json_object_get(schema, "minLength"), *max = json_object_get(schema, "maxLength");
    if (json_is_integer(min) && json_integer_value(min) > (json_int_t)len)
        len = json_integer_value(min) < 64 ? (size_t)json_integer_value(min) : 64;
    if (json_is_integer(max) && json_integer_value(max) >= 0 && json_integer_value(max) < (json_int_t)len)
        len = (size_t)json_integer_value(max);
    for (size_t i = 4; i < len; i++)
        text[i] = 'x';
    return json_stringn(text, len);
}

/* The minimum if there is one, else 0 moved inside the maximum. */
static json_t *number_example(json_t *schema, int integer)
{
    double value = 0;
    json_t *min = json_object_get(schema, "minimum"), *xmin = json_object_get(schema, "exclusiveMinimum");
    json_t *max = json_object_get(schema, "maximum"), *xmax = json_object_get(schema, "exclusiveMaximum");
    if (json_is_number(min))
        value = json_number_value(min);
    else if (json_is_number(xmin))
        value = json_number_value(xmin) + 1;
    else if (json_is_number(max) && json_number_value(max) < 0)
        value = json_number_value(max);
    else if (json_is_number(xmax) && json_number_value(xmax) <= 0)
        value = json_number_value(xmax) - 1;
    return integer ? json_integer((json_int_t)value) : json_real(value);
}

static json_t *object_example(json_t *schema, json_t *root, int depth)
{
    json_t *object = json_object(), *properties = json_object_get(schema, "properties");
    size_t i;
    json_t *name;
    json_array_foreach(json_object_get(schema, "required"), i, name) {
        if (json_is_string(name))
            json_object_set_new(object, json_string_value(name),
                                example(json_object_get(properties, json_string_value(name)), root, depth + 1));
    }
    return object;
}

static json_t *array_example(json_t *schema, json_t *root, int depth)
{
    json_t *array = json_array(), *items = json_object_get(schema, "items");
    json_t *min = json_object_get(schema, "minItems"), *max = json_object_get(schema, "maxItems");
    json_int_t n = 1;
    if (json_is_integer(min))
        n = json_integer_value(min);
    if (json_is_integer(max) && json_integer_value(max) < n)
        n = json_integer_value(max);
    for (json_int_t i = 0; i < n && i < MAX_ITEMS; i++)
        json_array_append_new(array, example(items, root, depth + 1));
    return array;
}

/* The first alternative that is not just {"type":"null"}. */
static json_t *first_alternative(json_t *alternatives)
{
    size_t i;
    json_t *alt;
    json_array_foreach(alternatives, i, alt) {
        const char *type = mock_json_string(alt, "type");
        if (type == NULL || strcmp(type, "null") != 0)
            return alt;
    }
    return json_array_get(alternatives, 0);
}

static json_t *example(json_t *schema, json_t *root, int depth)
{
    if (!json_is_object(schema))
        return json_string("mock");
    if (depth > MAX_DEPTH)
        return json_null();
    json_t *v;
    if ((v = json_object_get(schema, "const")) != NULL)
        return json_deep_copy(v);
    if (json_array_size(v = json_object_get(schema, "enum")) > 0)
        return json_deep_copy(json_array_get(v, 0));
    if (json_is_string(v = json_object_get(schema, "$ref")))
        return example(resolve(root, json_string_value(v)), root, depth + 1);
    const char *alternatives[] = {"anyOf", "oneOf", "allOf"};
    for (size_t i = 0; i < sizeof(alternatives) / sizeof(alternatives[0]); i++) {
        if (json_array_size(v = json_object_get(schema, alternatives[i])) > 0 && schema_type(schema) == NULL)
            return example(first_alternative(v), root, depth + 1);
    }
    const char *type = schema_type(schema);
    if (type == NULL || strcmp(type, "string") == 0)
        return string_example(schema);
    if (strcmp(type, "object") == 0)
        return object_example(schema, root, depth);
    if (strcmp(type, "array") == 0)
        return array_example(schema, root, depth);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return number_example(schema, type[0] == 'i');
    if (strcmp(type, "boolean") == 0)
        return json_true();
    return json_null();
}

json_t *mock_schema_example(json_t *schema)
{
    json_t *value = example(schema, schema, 0);
    /* both uses want an object at the root; so does every API */
    return json_is_object(value) ? value : json_object();
}
