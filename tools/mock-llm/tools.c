/*
 * mock-llm tool use: when an answer is a tool call instead of prose, and to
 * which tool. Every API (chat completions, Responses, Anthropic Messages)
 * describes its tools and its tool choice its own way; each turns them into
 * this one decision so that the rule is the same everywhere:
 *
 *   a forced tool (by name) is called; "required"/"any" calls one; "auto"
 *   (or no choice) calls one only if the last user message says "use tool"
 *   (any case); the tool called is the first whose name the last user
 *   message mentions, else the first tool.
 */
#include <strings.h>
#include <string.h>
#include "mock.h"

static int contains(const char *text, size_t len, const char *needle, size_t needle_len, int any_case)
{
    for (size_t i = 0; needle_len > 0 && i + needle_len <= len; i++) {
        if (any_case ? strncasecmp(text + i, needle, needle_len) == 0 : memcmp(text + i, needle, needle_len) == 0)
            return 1;
    }
    return 0;
}

int mock_tool_pick(const struct mock_tools *tools, const struct mock_buf *last_user, struct mock_tool *picked,
                   const char **error)
{
    if (tools->count == 0 || tools->choice == MOCK_TOOLS_NONE)
        return 0;
    if (tools->choice == MOCK_TOOLS_NAMED) {
        for (size_t i = 0; i < tools->count; i++) {
            if (strcmp(json_string_value(tools->list[i].name), tools->forced) == 0) {
                *picked = tools->list[i];
                return 1;
            }
        }
        *error = "tool_choice names a tool that is not in tools";
        return -1;
    }
    if (tools->choice == MOCK_TOOLS_AUTO && !contains(last_user->base, last_user->len, H2O_STRLIT("use tool"), 1))
        return 0;
    *picked = tools->list[0];
    for (size_t i = 0; i < tools->count; i++) {
        json_t *name = tools->list[i].name;
        if (contains(last_user->base, last_user->len, json_string_value(name), json_string_length(name), 0)) {
            *picked = tools->list[i];
            break;
        }
    }
    return 1;
}

void mock_tools_init(struct mock_tools *tools, h2o_mem_pool_t *pool, json_t *array)
{
    memset(tools, 0, sizeof(*tools));
    tools->choice = MOCK_TOOLS_AUTO;
    tools->list = h2o_mem_alloc_pool(pool, sizeof(*tools->list) * (json_array_size(array) + 1));
}

int mock_tools_add(struct mock_tools *tools, json_t *name, json_t *schema)
{
    if (!json_is_string(name))
        return -1;
    tools->list[tools->count].name = name;
    tools->list[tools->count].schema = schema;
    tools->count++;
    return 0;
}

int mock_tools_choose(struct mock_tools *tools, const char *mode, json_t *forced_name)
{
    static const struct {
        const char *mode;
        enum mock_tool_choice choice;
    } modes[] = {{"none", MOCK_TOOLS_NONE}, {"auto", MOCK_TOOLS_AUTO}, {"required", MOCK_TOOLS_ANY},
                 {"any", MOCK_TOOLS_ANY},   {"tool", MOCK_TOOLS_NAMED}, {"function", MOCK_TOOLS_NAMED}};
    for (size_t i = 0; mode != NULL && i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(mode, modes[i].mode) != 0)
            continue;
        tools->choice = modes[i].choice;
        if (tools->choice != MOCK_TOOLS_NAMED)
            return 0;
        if (!json_is_string(forced_name))
            return -1;
        tools->forced = json_string_value(forced_name);
        return 0;
    }
    return -1;
}

int mock_tools_read(json_t *body, const struct mock_tools_shape *shape, struct mock_tools *tools,
                    h2o_mem_pool_t *pool, const char **error)
{
    json_t *list = json_object_get(body, "tools"), *choice = json_object_get(body, "tool_choice");
    size_t i;
    json_t *tool;
    int ok = list == NULL || json_is_array(list);
    mock_tools_init(tools, pool, list);
    json_array_foreach(list, i, tool) {
        const char *type = mock_json_string(tool, "type");
        if (shape->only_type != NULL && (type == NULL || strcmp(type, shape->only_type) != 0))
            continue;
        json_t *t = shape->nest != NULL ? json_object_get(tool, shape->nest) : tool;
        ok = ok && mock_tools_add(tools, json_object_get(t, "name"), json_object_get(t, shape->schema)) == 0;
    }
    if (!ok) {
        *error = shape->tools_error;
        return -1;
    }
    if (choice == NULL || (shape->mode_strings && json_is_null(choice)))
        return 0;
    if (shape->mode_strings && json_is_string(choice)) /* a mode; a forced tool needs the object */
        ok = mock_tools_choose(tools, json_string_value(choice), NULL) == 0 && tools->choice != MOCK_TOOLS_NAMED;
    else
        ok = mock_tools_choose(tools, mock_json_string(choice, "type"),
                               json_object_get(shape->nest != NULL ? json_object_get(choice, shape->nest) : choice,
                                               "name")) == 0;
    if (!ok) {
        *error = shape->choice_error;
        return -1;
    }
    return 0;
}

void mock_last_user_text(json_t *messages, struct mock_buf *out)
{
    for (size_t i = json_array_size(messages); i-- > 0;) {
        json_t *m = json_array_get(messages, i);
        const char *role = mock_json_string(m, "role");
        if (role != NULL && strcmp(role, "user") == 0) {
            mock_content_text(json_object_get(m, "content"), out);
            return;
        }
    }
}
