/* test_anthropic.c: unit tests of the OpenAI chat <-> Anthropic messages
 * translation (upstream/anthropic.h), on fixtures of the real wire shapes:
 * every request field mapped or refused (with the 400's param), content
 * parts and blocks, multi-turn tool use, responses and their usage with
 * cache fields, stop reasons, error bodies, and both stream translators
 * over every event type, fed whole, split at every byte boundary and one
 * byte at a time.
 *
 * Fixtures are written with ' for " (the Q macro swaps them) so that the
 * JSON stays readable; their texts therefore have no apostrophes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "upstream/anthropic.h"

/* ---- helpers ----------------------------------------------------------- */

#define POOL 32
static char *pool[POOL];
static int pool_next;

/* s with every ' turned into " (kept until the pool wraps or the end). */
static const char *Q(const char *s)
{
    size_t n = strlen(s);
    free(pool[pool_next]);
    char *q = pool[pool_next] = malloc(n + 1);
    pool_next = (pool_next + 1) % POOL;
    for (size_t i = 0; i <= n; i++)
        q[i] = s[i] == '\'' ? '"' : s[i];
    return q;
}

static int free_pool(void **state)
{
    (void)state;
    for (int i = 0; i < POOL; i++)
        free(pool[i]), pool[i] = NULL;
    return 0;
}

/* got (freed here) must be the same JSON as want (a Q fixture). */
static void assert_json(char *got, const char *want)
{
    if (got == NULL)
        fail_msg("no output");
    json_t *g = json_loads(got, 0, NULL), *w = json_loads(want, 0, NULL);
    if (w == NULL)
        fail_msg("the expected fixture is not JSON: %s", want);
    if (!json_equal(g, w))
        fail_msg("got  %s\nwant %s", got, want);
    json_decref(g);
    json_decref(w);
    free(got);
}

static tg_xlate_error_t err;

static char *from_chat(const char *body)
{
    size_t len;
    return tg_anthropic_request_from_chat(body, strlen(body), "claude-x", 1024, &len, &err);
}

static char *to_chat(const char *body)
{
    size_t len;
    return tg_anthropic_request_to_chat(body, strlen(body), "gpt-x", &len, &err);
}

/* translate must refuse body with a 400 whose param is param. */
static void assert_refused(char *(*translate)(const char *), const char *body, const char *param)
{
    char *out = translate(body);
    if (out != NULL)
        fail_msg("translated %s\ninto %s", body, out);
    if (err.status != 400 || strcmp(err.param, param) != 0)
        fail_msg("%s: status %d, param '%s' (want '%s'): %s", body, err.status, err.param, param, err.message);
    assert_true(strlen(err.message) > 0);
}

/* ---- OpenAI chat request -> Anthropic ----------------------------------- */

static void test_chat_request_basic(void **state)
{
    assert_json(from_chat(Q("{'model':'claude','messages':["
                            "{'role':'system','content':'Be brief.'},"
                            "{'role':'developer','content':[{'type':'text','text':'Answer in French.'}]},"
                            "{'role':'user','content':'Hello'},"
                            "{'role':'assistant','content':'Bonjour'},"
                            "{'role':'user','content':'How are you'}],"
                            "'temperature':0.7,'top_p':0.9,'stop':'END','stream':true,"
                            "'stream_options':{'include_usage':true},'user':'u-42','n':1,'logprobs':false,"
                            "'presence_penalty':0,'frequency_penalty':0,'logit_bias':{},'seed':null,"
                            "'response_format':{'type':'text'},'store':false,'metadata':{},'modalities':['text']}")),
                Q("{'model':'claude-x',"
                  "'system':[{'type':'text','text':'Be brief.'},{'type':'text','text':'Answer in French.'}],"
                  "'messages':[{'role':'user','content':'Hello'},{'role':'assistant','content':'Bonjour'},"
                  "{'role':'user','content':'How are you'}],"
                  "'max_tokens':1024,'stop_sequences':['END'],'temperature':0.7,'top_p':0.9,'stream':true,"
                  "'metadata':{'user_id':'u-42'}}"));
    /* one system text is a plain string; max_tokens from the client */
    assert_json(from_chat(Q("{'model':'m','messages':[{'role':'system','content':'S'},{'role':'user','content':'U'}],"
                            "'max_tokens':50,'stop':['a','b'],'safety_identifier':'s1'}")),
                Q("{'model':'claude-x','system':'S','messages':[{'role':'user','content':'U'}],'max_tokens':50,"
                  "'stop_sequences':['a','b'],'metadata':{'user_id':'s1'}}"));
}

static void test_chat_request_max_tokens(void **state)
{
    assert_json(from_chat(Q("{'model':'m','messages':[{'role':'user','content':'U'}],'max_completion_tokens':77}")),
                Q("{'model':'claude-x','messages':[{'role':'user','content':'U'}],'max_tokens':77}"));
    assert_json(from_chat(Q("{'model':'m','messages':[{'role':'user','content':'U'}],'max_tokens':9,"
                            "'max_completion_tokens':9}")),
                Q("{'model':'claude-x','messages':[{'role':'user','content':'U'}],'max_tokens':9}"));
    assert_refused(from_chat, Q("{'model':'m','messages':[],'max_tokens':9,'max_completion_tokens':10}"),
                   "max_tokens");
    assert_refused(from_chat, Q("{'model':'m','messages':[],'max_tokens':0}"), "max_tokens");
    assert_refused(from_chat, Q("{'model':'m','messages':[],'max_completion_tokens':1.5}"), "max_completion_tokens");
    /* no default: Anthropic requires it */
    const char *body = Q("{'model':'m','messages':[{'role':'user','content':'U'}]}");
    assert_null(tg_anthropic_request_from_chat(body, strlen(body), NULL, 0, NULL, &err));
    assert_string_equal(err.param, "max_tokens");
    /* upstream_model NULL keeps the client's */
    size_t len;
    assert_json(tg_anthropic_request_from_chat(body, strlen(body), NULL, 5, &len, &err),
                Q("{'model':'m','messages':[{'role':'user','content':'U'}],'max_tokens':5}"));
}

static void test_chat_request_content_parts(void **state)
{
    assert_json(from_chat(Q("{'model':'m','messages':[{'role':'user','content':["
                            "{'type':'text','text':'What is in these?'},"
                            "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo='}},"
                            "{'type':'image_url','image_url':{'url':'https://example.com/cat.jpg','detail':'auto'}},"
                            "{'type':'file','file':{'filename':'a.pdf','file_data':'data:application/pdf;base64,JVBERi0='}},"
                            "{'type':'text','text':''}]}]}")),
                Q("{'model':'claude-x','messages':[{'role':'user','content':["
                  "{'type':'text','text':'What is in these?'},"
                  "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBORw0KGgo='}},"
                  "{'type':'image','source':{'type':'url','url':'https://example.com/cat.jpg'}},"
                  "{'type':'document','source':{'type':'base64','media_type':'application/pdf','data':'JVBERi0='},"
                  "'title':'a.pdf'}]}],'max_tokens':1024}"));
}

static void test_chat_request_tools(void **state)
{
    const char *tools = "'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather now',"
                        "'parameters':{'type':'object','properties':{'city':{'type':'string'}},'required':['city']},"
                        "'strict':false}},{'type':'function','function':{'name':'now'}}]";
    const char *anthropic_tools =
        "'tools':[{'name':'get_weather','description':'Weather now','input_schema':{'type':'object',"
        "'properties':{'city':{'type':'string'}},'required':['city']}},"
        "{'name':'now','input_schema':{'type':'object','properties':{}}}]";
    static const struct {
        const char *choice, *want;
    } cases[] = {
        {"", ""},
        {",'tool_choice':'auto'", ",'tool_choice':{'type':'auto'}"},
        {",'tool_choice':'none'", ",'tool_choice':{'type':'none'}"},
        {",'tool_choice':'required'", ",'tool_choice':{'type':'any'}"},
        {",'tool_choice':{'type':'function','function':{'name':'now'}}", ",'tool_choice':{'type':'tool','name':'now'}"},
        {",'parallel_tool_calls':false", ",'tool_choice':{'type':'auto','disable_parallel_tool_use':true}"},
        {",'parallel_tool_calls':true", ""},
        {",'tool_choice':'required','parallel_tool_calls':false",
         ",'tool_choice':{'type':'any','disable_parallel_tool_use':true}"},
        {",'tool_choice':'none','parallel_tool_calls':false", ",'tool_choice':{'type':'none'}"},
    };
    char body[2048], want[2048];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{'model':'m','messages':[{'role':'user','content':'U'}],%s%s}", tools,
                 cases[i].choice);
        snprintf(want, sizeof(want), "{'model':'claude-x','messages':[{'role':'user','content':'U'}],'max_tokens':1024,%s%s}",
                 anthropic_tools, cases[i].want);
        assert_json(from_chat(Q(body)), Q(want));
    }
}

static void test_chat_request_multi_turn_tools(void **state)
{
    assert_json(from_chat(Q("{'model':'m','messages':["
                            "{'role':'user','content':'Weather in Paris and Rome?'},"
                            "{'role':'assistant','content':'Let me look.','tool_calls':["
                            "{'id':'call_1','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}},"
                            "{'id':'call_2','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Rome\\'}'}}]},"
                            "{'role':'tool','tool_call_id':'call_1','content':'18C'},"
                            "{'role':'tool','tool_call_id':'call_2','content':[{'type':'text','text':'24C'}]},"
                            "{'role':'user','content':'And tomorrow?'},"
                            "{'role':'assistant','content':null,'refusal':null,'tool_calls':["
                            "{'id':'call_3','type':'function','function':{'name':'now','arguments':''}}]},"
                            "{'role':'tool','tool_call_id':'call_3','content':'monday'},"
                            "{'role':'assistant','tool_calls':[{'id':'call_4','function':{'name':'now'}}]},"
                            "{'role':'tool','tool_call_id':'call_4'}]}")),
                Q("{'model':'claude-x','messages':["
                  "{'role':'user','content':'Weather in Paris and Rome?'},"
                  "{'role':'assistant','content':[{'type':'text','text':'Let me look.'},"
                  "{'type':'tool_use','id':'call_1','name':'get_weather','input':{'city':'Paris'}},"
                  "{'type':'tool_use','id':'call_2','name':'get_weather','input':{'city':'Rome'}}]},"
                  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_1','content':'18C'},"
                  "{'type':'tool_result','tool_use_id':'call_2','content':[{'type':'text','text':'24C'}]},"
                  "{'type':'text','text':'And tomorrow?'}]},"
                  "{'role':'assistant','content':[{'type':'tool_use','id':'call_3','name':'now','input':{}}]},"
                  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_3','content':'monday'}]},"
                  "{'role':'assistant','content':[{'type':'tool_use','id':'call_4','name':'now','input':{}}]},"
                  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_4','content':''}]}],"
                  "'max_tokens':1024}"));
    /* an earlier refusal of the model goes back as its text */
    assert_json(from_chat(Q("{'model':'m','messages':[{'role':'user','content':'U'},"
                            "{'role':'assistant','content':[{'type':'refusal','refusal':'No.'}]}]}")),
                Q("{'model':'claude-x','messages':[{'role':'user','content':'U'},{'role':'assistant','content':'No.'}],"
                  "'max_tokens':1024}"));
}

static void test_chat_request_service_tier(void **state)
{
    assert_json(from_chat(Q("{'model':'m','messages':[],'service_tier':'default'}")),
                Q("{'model':'claude-x','messages':[],'max_tokens':1024,'service_tier':'standard_only'}"));
    assert_json(from_chat(Q("{'model':'m','messages':[],'service_tier':'auto'}")),
                Q("{'model':'claude-x','messages':[],'max_tokens':1024,'service_tier':'auto'}"));
    assert_refused(from_chat, Q("{'model':'m','messages':[],'service_tier':'flex'}"), "service_tier");
}

/* Every field without an Anthropic equivalent: refused, named. */
static void test_chat_request_refuses_untranslatable_fields(void **state)
{
    static const struct {
        const char *member, *param;
    } cases[] = {
        {"'n':2", "n"},
        {"'logprobs':true", "logprobs"},
        {"'top_logprobs':3", "top_logprobs"},
        {"'presence_penalty':0.5", "presence_penalty"},
        {"'frequency_penalty':-1", "frequency_penalty"},
        {"'logit_bias':{'50256':-100}", "logit_bias"},
        {"'seed':7", "seed"},
        {"'response_format':{'type':'json_object'}", "response_format"},
        {"'response_format':{'type':'json_schema','json_schema':{'name':'x','schema':{}}}", "response_format"},
        {"'store':true", "store"},
        {"'metadata':{'k':'v'}", "metadata"},
        {"'modalities':['text','audio']", "modalities"},
        {"'audio':{'voice':'alloy','format':'wav'}", "audio"},
        {"'prediction':{'type':'content','content':'x'}", "prediction"},
        {"'reasoning_effort':'high'", "reasoning_effort"},
        {"'verbosity':'low'", "verbosity"},
        {"'web_search_options':{}", "web_search_options"},
        {"'prompt_cache_key':'k'", "prompt_cache_key"},
        {"'prompt_cache_retention':'24h'", "prompt_cache_retention"},
        {"'functions':[{'name':'f'}]", "functions"},
        {"'function_call':'auto'", "function_call"},
        {"'some_new_field':1", "some_new_field"},
        {"'temperature':1.5", "temperature"},
        {"'temperature':-0.1", "temperature"},
        {"'top_p':2", "top_p"},
        {"'stop':[1]", "stop[0]"},
        {"'stream':'yes'", "stream"},
        {"'user':'a','safety_identifier':'b'", "safety_identifier"},
        {"'tool_choice':'sometimes'", "tool_choice"},
        {"'tool_choice':{'type':'allowed_tools','allowed_tools':{}}", "tool_choice.type"},
        {"'tools':[{'type':'custom','custom':{'name':'x'}}]", "tools[0].type"},
        {"'tools':[{'type':'function','function':{'name':'x','strict':true}}]", "tools[0].function.strict"},
        {"'parallel_tool_calls':'no'", "parallel_tool_calls"},
    };
    char body[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{'model':'m','messages':[{'role':'user','content':'U'}],%s}", cases[i].member);
        assert_refused(from_chat, Q(body), cases[i].param);
    }
    assert_true(strstr(err.message, "boolean") != NULL);
    /* the temperature's refusal says why */
    assert_refused(from_chat, Q("{'model':'m','messages':[],'temperature':1.2}"), "temperature");
    assert_non_null(strstr(err.message, "0 to 1"));
}

static void test_chat_request_refuses_untranslatable_messages(void **state)
{
    static const struct {
        const char *messages, *param;
    } cases[] = {
        {"{'role':'user','content':'U','name':'bob'}", "messages[0].name"},
        {"{'role':'user','content':'U'},{'role':'system','content':'late'}", "messages[1].role"},
        {"{'role':'function','name':'f','content':'x'}", "messages[0].role"},
        {"{'role':'user'}", "messages[0].content"},
        {"{'role':'user','content':[{'type':'input_audio','input_audio':{'data':'x','format':'wav'}}]}",
         "messages[0].content[0]"},
        {"{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://x/y.png','detail':'high'}}]}",
         "messages[0].content[0].image_url.detail"},
        {"{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/bmp;base64,Qk0='}}]}",
         "messages[0].content[0].image_url.url"},
        {"{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/png,raw'}}]}",
         "messages[0].content[0].image_url.url"},
        {"{'role':'user','content':[{'type':'image_url','image_url':{'url':'ftp://x/y.png'}}]}",
         "messages[0].content[0].image_url.url"},
        {"{'role':'user','content':[{'type':'file','file':{'file_id':'file-1'}}]}",
         "messages[0].content[0].file.file_id"},
        {"{'role':'user','content':[{'type':'file','file':{'file_data':'data:text/plain;base64,eA=='}}]}",
         "messages[0].content[0].file.file_data"},
        {"{'role':'system','content':[{'type':'image_url','image_url':{'url':'https://x'}}]}",
         "messages[0].content[0]"},
        {"{'role':'user','content':[{'type':'text','text':'a','cache_control':{}}]}",
         "messages[0].content[0].cache_control"},
        {"{'role':'user','content':'U'},{'role':'assistant','tool_calls':[{'id':'c','type':'function',"
         "'function':{'name':'f','arguments':'[1]'}}]}",
         "messages[1].tool_calls[0].function.arguments"},
        {"{'role':'user','content':'U'},{'role':'assistant','tool_calls':[{'id':'c','type':'function',"
         "'function':{'name':'f','arguments':'{oops'}}]}",
         "messages[1].tool_calls[0].function.arguments"},
        {"{'role':'user','content':'U'},{'role':'assistant','content':'A','audio':{'id':'a1'}}", "messages[1].audio"},
        {"{'role':'user','content':'U','tool_calls':[]}", "messages[0].tool_calls"},
        {"{'role':'tool','content':'x'}", "messages[0].tool_call_id"},
        {"'not a message'", "messages[0]"},
    };
    char body[1024];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{'model':'m','messages':[%s]}", cases[i].messages);
        assert_refused(from_chat, Q(body), cases[i].param);
    }
    assert_refused(from_chat, "{\"model\":\"m\"", "");
    assert_refused(from_chat, "[1,2]", "");
    assert_refused(from_chat, Q("{'model':7,'messages':[]}"), "model");
    assert_refused(from_chat, Q("{'model':'m','messages':{}}"), "messages");
}

/* ---- Anthropic request -> OpenAI chat ----------------------------------- */

static void test_messages_request_basic(void **state)
{
    assert_json(to_chat(Q("{'model':'claude-sonnet-4-5','max_tokens':1024,'system':'Be brief.',"
                          "'messages':[{'role':'user','content':'Hello'},{'role':'assistant','content':'Hi'},"
                          "{'role':'user','content':'Weather?'}],"
                          "'stop_sequences':['END'],'temperature':0.5,'top_p':0.9,'stream':true,"
                          "'metadata':{'user_id':'u-1'},'thinking':{'type':'disabled'},'service_tier':'standard_only'}")),
                Q("{'model':'gpt-x','messages':[{'role':'system','content':'Be brief.'},"
                  "{'role':'user','content':'Hello'},{'role':'assistant','content':'Hi'},"
                  "{'role':'user','content':'Weather?'}],'max_tokens':1024,'stop':['END'],'temperature':0.5,"
                  "'top_p':0.9,'stream':true,'stream_options':{'include_usage':true},'user':'u-1',"
                  "'service_tier':'default'}"));
}

static void test_messages_request_blocks_and_tools(void **state)
{
    assert_json(
        to_chat(Q("{'model':'c','max_tokens':10,"
                  "'system':[{'type':'text','text':'S1','cache_control':{'type':'ephemeral'}},{'type':'text','text':'S2'}],"
                  "'messages':[{'role':'user','content':[{'type':'text','text':'Look'},"
                  "{'type':'image','source':{'type':'base64','media_type':'image/jpeg','data':'/9j/4A=='}},"
                  "{'type':'image','source':{'type':'url','url':'https://example.com/a.png'}},"
                  "{'type':'document','source':{'type':'base64','media_type':'application/pdf','data':'JVBERi0='},'title':'t.pdf'}]},"
                  "{'role':'assistant','content':[{'type':'text','text':'Checking.'},"
                  "{'type':'tool_use','id':'toolu_1','name':'get_weather','input':{'city':'Paris'}},"
                  "{'type':'tool_use','id':'toolu_2','name':'now','input':{}}]},"
                  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_1','content':'18C'},"
                  "{'type':'tool_result','tool_use_id':'toolu_2','is_error':true,'content':[{'type':'text','text':'no clock'}]},"
                  "{'type':'text','text':'Thanks'}]},"
                  "{'role':'assistant','content':[{'type':'tool_use','id':'toolu_3','name':'now','input':{}}]},"
                  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_3'}]}],"
                  "'tools':[{'name':'get_weather','description':'Weather','input_schema':{'type':'object',"
                  "'properties':{'city':{'type':'string'}}},'cache_control':{'type':'ephemeral'}},"
                  "{'type':'custom','name':'now','input_schema':{'type':'object'}}],"
                  "'tool_choice':{'type':'any','disable_parallel_tool_use':true}}")),
        Q("{'model':'gpt-x','messages':["
          "{'role':'system','content':[{'type':'text','text':'S1'},{'type':'text','text':'S2'}]},"
          "{'role':'user','content':[{'type':'text','text':'Look'},"
          "{'type':'image_url','image_url':{'url':'data:image/jpeg;base64,/9j/4A=='}},"
          "{'type':'image_url','image_url':{'url':'https://example.com/a.png'}},"
          "{'type':'file','file':{'file_data':'data:application/pdf;base64,JVBERi0=','filename':'t.pdf'}}]},"
          "{'role':'assistant','content':'Checking.','tool_calls':["
          "{'id':'toolu_1','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}},"
          "{'id':'toolu_2','type':'function','function':{'name':'now','arguments':'{}'}}]},"
          "{'role':'tool','tool_call_id':'toolu_1','content':'18C'},"
          "{'role':'tool','tool_call_id':'toolu_2','content':'[tool error] no clock'},"
          "{'role':'user','content':'Thanks'},"
          "{'role':'assistant','content':null,'tool_calls':["
          "{'id':'toolu_3','type':'function','function':{'name':'now','arguments':'{}'}}]},"
          "{'role':'tool','tool_call_id':'toolu_3','content':''}],"
          "'max_tokens':10,'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather',"
          "'parameters':{'type':'object','properties':{'city':{'type':'string'}}}}},"
          "{'type':'function','function':{'name':'now','parameters':{'type':'object'}}}],"
          "'tool_choice':'required','parallel_tool_calls':false}"));

    static const struct {
        const char *choice, *want;
    } cases[] = {
        {"{'type':'auto'}", "'auto'"},
        {"{'type':'none'}", "'none'"},
        {"{'type':'tool','name':'now'}", "{'type':'function','function':{'name':'now'}}"},
        {"{'type':'auto','disable_parallel_tool_use':false}", "'auto'"},
    };
    char body[512], want[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body),
                 "{'model':'c','max_tokens':1,'messages':[],'tools':[{'name':'now','input_schema':{}}],'tool_choice':%s}",
                 cases[i].choice);
        snprintf(want, sizeof(want),
                 "{'model':'gpt-x','messages':[],'max_tokens':1,'tools':[{'type':'function','function':{'name':'now',"
                 "'parameters':{}}}],'tool_choice':%s}",
                 cases[i].want);
        assert_json(to_chat(Q(body)), Q(want));
    }
}

static void test_messages_request_refusals(void **state)
{
    static const struct {
        const char *member, *param;
    } cases[] = {
        {"'top_k':40", "top_k"},
        {"'thinking':{'type':'enabled','budget_tokens':2048}", "thinking"},
        {"'container':'c1'", "container"},
        {"'mcp_servers':[{'type':'url','url':'https://x','name':'x'}]", "mcp_servers"},
        {"'context_management':{'edits':[]}", "context_management"},
        {"'brand_new':true", "brand_new"},
        {"'metadata':{'user_id':'u','other':'x'}", "metadata.other"},
        {"'service_tier':'priority'", "service_tier"},
        {"'temperature':1.5", "temperature"},
        {"'stop_sequences':'END'", "stop_sequences"},
        {"'tools':[{'type':'web_search_20250305','name':'web_search'}]", "tools[0].type"},
        {"'tools':[{'name':'x'}]", "tools[0].input_schema"},
        {"'tool_choice':{'type':'sometimes'}", "tool_choice.type"},
        {"'tool_choice':{'type':'tool'}", "tool_choice.name"},
    };
    char body[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':'U'}],%s}",
                 cases[i].member);
        assert_refused(to_chat, Q(body), cases[i].param);
    }
    static const struct {
        const char *messages, *param;
    } messages[] = {
        {"{'role':'system','content':'S'}", "messages[0].role"},
        {"{'role':'user','content':'U','name':'x'}", "messages[0].name"},
        {"{'role':'assistant','content':[{'type':'thinking','thinking':'hmm','signature':'x'}]}",
         "messages[0].content[0]"},
        {"{'role':'assistant','content':[{'type':'redacted_thinking','data':'x'}]}", "messages[0].content[0]"},
        {"{'role':'user','content':[{'type':'tool_use','id':'a','name':'b','input':{}}]}", "messages[0].content[0]"},
        {"{'role':'assistant','content':[{'type':'tool_use','id':'a','name':'b','input':[]}]}",
         "messages[0].content[0].input"},
        {"{'role':'user','content':[{'type':'tool_result','tool_use_id':'a','content':[{'type':'image',"
         "'source':{'type':'url','url':'https://x'}}]}]}",
         "messages[0].content[0].content[0]"},
        {"{'role':'user','content':[{'type':'document','source':{'type':'text','media_type':'text/plain','data':'x'}}]}",
         "messages[0].content[0].source.type"},
        {"{'role':'user','content':[{'type':'document','source':{'type':'url','url':'https://x/a.pdf'}}]}",
         "messages[0].content[0].source.type"},
        {"{'role':'user','content':[{'type':'image','source':{'type':'base64','media_type':'image/tiff','data':'x'}}]}",
         "messages[0].content[0].source.media_type"},
        {"{'role':'user','content':[{'type':'text','text':'x','citations':[{'type':'char_location'}]}]}",
         "messages[0].content[0].citations"},
        {"{'role':'user','content':[{'type':'search_result','source':'x','title':'t','content':[]}]}",
         "messages[0].content[0]"},
        {"{'role':'user','content':7}", "messages[0].content"},
        {"{'role':'user','content':[{'type':'image','source':{'type':'url','url':'file:///etc/passwd'}}]}",
         "messages[0].content[0].source.url"},
    };
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        snprintf(body, sizeof(body), "{'model':'c','max_tokens':5,'messages':[%s]}", messages[i].messages);
        assert_refused(to_chat, Q(body), messages[i].param);
    }
    assert_refused(to_chat, Q("{'model':'c','messages':[]}"), "max_tokens");
}

/* ---- plain responses ---------------------------------------------------- */

static void test_messages_response_to_chat(void **state)
{
    tg_xlate_usage_t u;
    size_t len;
    const char *body = Q("{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','type':'message','role':'assistant',"
                         "'model':'claude-sonnet-4-5-20250929','content':[{'type':'text','text':'Hello'},"
                         "{'type':'text','text':' there'}],'stop_reason':'end_turn','stop_sequence':null,"
                         "'usage':{'input_tokens':12,'cache_creation_input_tokens':100,'cache_read_input_tokens':2000,"
                         "'cache_creation':{'ephemeral_5m_input_tokens':100,'ephemeral_1h_input_tokens':0},"
                         "'output_tokens':6,'service_tier':'standard'}}");
    assert_json(tg_anthropic_response_to_chat(body, strlen(body), "my-model", 1700000000, &u, &len, &err),
                Q("{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','object':'chat.completion','created':1700000000,"
                  "'model':'my-model','choices':[{'index':0,'message':{'role':'assistant','content':'Hello there',"
                  "'refusal':null},'logprobs':null,'finish_reason':'stop'}],"
                  "'usage':{'prompt_tokens':2112,'completion_tokens':6,'total_tokens':2118,"
                  "'prompt_tokens_details':{'cached_tokens':2000}}}"));
    assert_int_equal(u.present, 1);
    assert_int_equal(u.prompt_tokens, 2112);
    assert_int_equal(u.cached_tokens, 2000);
    assert_int_equal(u.cache_write_tokens, 100);
    assert_int_equal(u.completion_tokens, 6);

    body = Q("{'id':'msg_2','type':'message','role':'assistant','model':'claude-x','content':["
             "{'type':'text','text':'Let me check.'},"
             "{'type':'tool_use','id':'toolu_01A','name':'get_weather','input':{'city':'Paris','days':2}}],"
             "'stop_reason':'tool_use','stop_sequence':null,'usage':{'input_tokens':30,'output_tokens':40}}");
    assert_json(tg_anthropic_response_to_chat(body, strlen(body), NULL, 5, &u, &len, &err),
                Q("{'id':'msg_2','object':'chat.completion','created':5,'model':'claude-x','choices':[{'index':0,"
                  "'message':{'role':'assistant','content':'Let me check.','refusal':null,'tool_calls':["
                  "{'id':'toolu_01A','type':'function','function':{'name':'get_weather',"
                  "'arguments':'{\\'city\\':\\'Paris\\',\\'days\\':2}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
                  "'usage':{'prompt_tokens':30,'completion_tokens':40,'total_tokens':70,"
                  "'prompt_tokens_details':{'cached_tokens':0}}}"));
    assert_int_equal(u.cache_write_tokens, 0);
}

static void test_stop_reasons(void **state)
{
    static const char *const map[][2] = {
        {"end_turn", "stop"},       {"stop_sequence", "stop"}, {"max_tokens", "length"},
        {"tool_use", "tool_calls"}, {"refusal", "content_filter"}, {"pause_turn", "stop"},
        {"model_context_window_exceeded", "length"}, {"a_future_reason", "stop"},
    };
    char body[512], want[512];
    size_t len;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        snprintf(body, sizeof(body), "{'id':'m','type':'message','role':'assistant','model':'c','content':[],"
                 "'stop_reason':'%s','stop_sequence':null,'usage':{'input_tokens':1,'output_tokens':1}}", map[i][0]);
        snprintf(want, sizeof(want), "{'id':'m','object':'chat.completion','created':1,'model':'c','choices':[{"
                 "'index':0,'message':{'role':'assistant','content':null,'refusal':null},'logprobs':null,"
                 "'finish_reason':'%s'}],'usage':{'prompt_tokens':1,'completion_tokens':1,'total_tokens':2,"
                 "'prompt_tokens_details':{'cached_tokens':0}}}", map[i][1]);
        const char *b = Q(body);
        assert_json(tg_anthropic_response_to_chat(b, strlen(b), NULL, 1, NULL, &len, &err), Q(want));
    }
    /* and back: finish_reason -> stop_reason */
    static const char *const back[][2] = {
        {"stop", "end_turn"}, {"length", "max_tokens"}, {"tool_calls", "tool_use"}, {"function_call", "tool_use"},
        {"content_filter", "refusal"}, {"something_else", "end_turn"},
    };
    for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
        snprintf(body, sizeof(body), "{'id':'c','object':'chat.completion','created':1,'model':'g','choices':[{"
                 "'index':0,'message':{'role':'assistant','content':'x'},'finish_reason':'%s'}]}", back[i][0]);
        snprintf(want, sizeof(want), "{'id':'c','type':'message','role':'assistant','model':'g','content':[{"
                 "'type':'text','text':'x'}],'stop_reason':'%s','stop_sequence':null,'usage':{'input_tokens':0,"
                 "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,'output_tokens':0}}", back[i][1]);
        const char *b = Q(body);
        assert_json(tg_anthropic_response_from_chat(b, strlen(b), NULL, NULL, &len, &err), Q(want));
    }
}

static void test_chat_response_to_messages(void **state)
{
    tg_xlate_usage_t u;
    size_t len;
    const char *body = Q("{'id':'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG','object':'chat.completion','created':1741570283,"
                         "'model':'gpt-4o-2024-08-06','choices':[{'index':0,'message':{'role':'assistant',"
                         "'content':'Sure.','refusal':null,'annotations':[],'tool_calls':[{'id':'call_abc',"
                         "'type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Oslo\\'}'}}]},"
                         "'logprobs':null,'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':1117,"
                         "'completion_tokens':46,'total_tokens':1163,'prompt_tokens_details':{'cached_tokens':1024,"
                         "'audio_tokens':0},'completion_tokens_details':{'reasoning_tokens':0}},"
                         "'service_tier':'default','system_fingerprint':'fp_fc9f1d7035'}");
    assert_json(tg_anthropic_response_from_chat(body, strlen(body), "claude-alias", &u, &len, &err),
                Q("{'id':'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG','type':'message','role':'assistant',"
                  "'model':'claude-alias','content':[{'type':'text','text':'Sure.'},{'type':'tool_use','id':'call_abc',"
                  "'name':'get_weather','input':{'city':'Oslo'}}],'stop_reason':'tool_use','stop_sequence':null,"
                  "'usage':{'input_tokens':93,'cache_creation_input_tokens':0,'cache_read_input_tokens':1024,"
                  "'output_tokens':46}}"));
    assert_int_equal(u.prompt_tokens, 1117);
    assert_int_equal(u.cached_tokens, 1024);
    assert_int_equal(u.completion_tokens, 46);

    body = Q("{'id':'c','object':'chat.completion','model':'g','choices':[{'index':0,'message':{'role':'assistant',"
             "'content':null,'refusal':'I cannot help with that.'},'finish_reason':'stop'}],"
             "'usage':{'prompt_tokens':5,'completion_tokens':7,'total_tokens':12}}");
    assert_json(tg_anthropic_response_from_chat(body, strlen(body), NULL, &u, &len, &err),
                Q("{'id':'c','type':'message','role':'assistant','model':'g','content':[{'type':'text',"
                  "'text':'I cannot help with that.'}],'stop_reason':'refusal','stop_sequence':null,"
                  "'usage':{'input_tokens':5,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
                  "'output_tokens':7}}"));
}

static void test_bad_responses_are_502(void **state)
{
    static const char *const anthropic[] = {
        "not json",
        "[]",
        "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}",
        "{'id':'m','type':'message','model':'c','content':[{'type':'thinking','thinking':'x','signature':'s'}]}",
        "{'id':'m','type':'message','model':'c','content':[{'type':'tool_use','id':'t','name':'n','input':'x'}]}",
        "{'id':'m','type':'message','model':'c','content':{}}",
        "{'type':'message','model':'c','content':[]}",
    };
    static const char *const chat[] = {
        "{'id':'c','model':'g','choices':[]}",
        "{'id':'c','model':'g','choices':[{'index':0,'message':{}},{'index':1,'message':{}}]}",
        "{'id':'c','model':'g','choices':[{'index':0,'message':{'tool_calls':[{'id':'x','type':'function',"
        "'function':{'name':'f','arguments':'{bad'}}]}}]}",
        "{'id':'c','model':'g','choices':[{'index':0,'message':{'content':7}}]}",
        "{'id':'c','model':'g','choices':[{'index':0}]}",
        "{'model':'g','choices':[]}",
    };
    size_t len;
    tg_xlate_usage_t u;
    for (size_t i = 0; i < sizeof(anthropic) / sizeof(anthropic[0]); i++) {
        const char *b = Q(anthropic[i]);
        assert_null(tg_anthropic_response_to_chat(b, strlen(b), NULL, 1, &u, &len, &err));
        assert_int_equal(err.status, 502);
    }
    for (size_t i = 0; i < sizeof(chat) / sizeof(chat[0]); i++) {
        const char *b = Q(chat[i]);
        assert_null(tg_anthropic_response_from_chat(b, strlen(b), NULL, &u, &len, &err));
        assert_int_equal(err.status, 502);
    }
    assert_string_equal(err.param, "id");
    /* the error for the gateway's error paths */
    tg_error_t e;
    tg_xlate_error_get(&err, &e);
    assert_int_equal(e.status, 502);
    assert_int_equal(e.type, TG_ERR_UPSTREAM);
    /* usage that is not counts is not used */
    const char *b = Q("{'id':'m','type':'message','model':'c','content':[],'usage':{'input_tokens':-1,'output_tokens':2}}");
    char *out = tg_anthropic_response_to_chat(b, strlen(b), NULL, 1, &u, &len, &err);
    assert_non_null(out);
    assert_int_equal(u.present, 0);
    assert_null(strstr(out, "usage"));
    free(out);
}

static void test_error_bodies(void **state)
{
    tg_error_t e;
    size_t len;
    static const struct {
        int status;
        const char *type;
    } types[] = {
        {400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
        {404, "not_found_error"},       {413, "request_too_large"},    {429, "rate_limit_error"},
        {500, "api_error"},             {502, "api_error"},            {503, "overloaded_error"},
        {529, "overloaded_error"},      {422, "invalid_request_error"},
    };
    char want[256];
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        tg_error_set(&e, types[i].status, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_REQUEST, "it \"broke\"", NULL);
        snprintf(want, sizeof(want), "{'type':'error','error':{'type':'%s','message':'it \\'broke\\''}}", types[i].type);
        assert_json(tg_anthropic_error_json(&e, &len), Q(want));
    }
    const char *body = Q("{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'},'request_id':'req_1'}");
    assert_json(tg_anthropic_error_to_chat(529, body, strlen(body), &len),
                Q("{'error':{'message':'Overloaded','type':'overloaded_error','param':null,'code':null}}"));
    assert_json(tg_anthropic_error_to_chat(502, "<html>", 6, &len),
                Q("{'error':{'message':'the provider answered status 502 with a body that is not an error it documents',"
                  "'type':'api_error','param':null,'code':null}}"));
    body = Q("{'error':{'message':'Rate limit reached','type':'requests','param':null,'code':'rate_limit_exceeded'}}");
    assert_json(tg_anthropic_error_from_chat(429, body, strlen(body), &len),
                Q("{'type':'error','error':{'type':'rate_limit_error','message':'Rate limit reached'}}"));
    assert_json(tg_anthropic_error_from_chat(500, "", 0, &len),
                Q("{'type':'error','error':{'type':'api_error','message':"
                  "'the provider answered status 500 with a body that is not an error it documents'}}"));
    /* a translation refusal, as the gateway reports it */
    assert_refused(from_chat, Q("{'model':'m','messages':[],'seed':1}"), "seed");
    tg_xlate_error_get(&err, &e);
    assert_int_equal(e.status, 400);
    assert_int_equal(e.type, TG_ERR_INVALID_REQUEST);
    assert_string_equal(e.param, "seed");
    assert_ptr_equal(e.message, err.message);
}

/* ---- streams ------------------------------------------------------------ */

typedef struct sink {
    char *text;
    size_t len, cap;
    int events;
    int stop_after; /* return 7 after this many events (0: never) */
} sink_t;

static int collect(void *ctx, const char *data, size_t len)
{
    sink_t *s = ctx;
    if (s->len + len + 1 > s->cap) {
        s->cap = (s->len + len + 1) * 2;
        s->text = realloc(s->text, s->cap);
    }
    memcpy(s->text + s->len, data, len);
    s->len += len;
    s->text[s->len] = '\0';
    s->events++;
    return s->stop_after != 0 && s->events >= s->stop_after ? 7 : 0;
}

/* Runs input through a new translator in pieces of `piece` bytes (0: one
 * piece; SIZE_MAX-1 and below: that many; split_at: two pieces, cut
 * there), then finish. Returns the output (malloc'd) and the info. */
static char *run_stream(tg_anthropic_stream_dir_t dir, int include_usage, const char *input, size_t piece,
                        size_t split_at, tg_anthropic_stream_info_t *info, int *finish_rc)
{
    sink_t sink = {0};
    size_t len = strlen(input);
    tg_anthropic_stream_t *s = tg_anthropic_stream_new(dir, "client-model", include_usage, 1700000000, 0);
    assert_non_null(s);
    if (split_at != 0) {
        tg_anthropic_stream_feed(s, input, split_at, collect, &sink);
        tg_anthropic_stream_feed(s, input + split_at, len - split_at, collect, &sink);
    } else {
        size_t step = piece ? piece : len;
        for (size_t off = 0; off < len; off += step)
            tg_anthropic_stream_feed(s, input + off, off + step <= len ? step : len - off, collect, &sink);
    }
    *finish_rc = tg_anthropic_stream_finish(s, collect, &sink);
    *info = *tg_anthropic_stream_info(s);
    tg_anthropic_stream_free(s);
    if (sink.text == NULL)
        sink.text = strdup("");
    return sink.text;
}

/* The output must not depend on how the input is split. */
static void assert_stream(tg_anthropic_stream_dir_t dir, int include_usage, const char *input, const char *want,
                          tg_anthropic_stream_info_t *info, int want_finish_rc)
{
    int rc;
    char *whole = run_stream(dir, include_usage, input, 0, 0, info, &rc);
    if (strcmp(whole, want) != 0)
        fail_msg("got\n%s\nwant\n%s", whole, want);
    assert_int_equal(rc, want_finish_rc);
    tg_anthropic_stream_info_t other;
    char *bytes = run_stream(dir, include_usage, input, 1, 0, &other, &rc);
    assert_string_equal(bytes, want);
    assert_int_equal(rc, want_finish_rc);
    assert_int_equal(other.usage.prompt_tokens, info->usage.prompt_tokens);
    assert_int_equal(other.usage.cached_tokens, info->usage.cached_tokens);
    assert_int_equal(other.usage.cache_write_tokens, info->usage.cache_write_tokens);
    assert_int_equal(other.usage.completion_tokens, info->usage.completion_tokens);
    assert_int_equal(other.output_seen, info->output_seen);
    assert_int_equal(other.done, info->done);
    assert_int_equal(other.failed, info->failed);
    assert_int_equal(other.ignored, info->ignored);
    free(bytes);
    for (size_t cut = 1; cut < strlen(input); cut++) {
        char *two = run_stream(dir, include_usage, input, 0, cut, &other, &rc);
        if (strcmp(two, want) != 0)
            fail_msg("split at %zu:\n%s", cut, two);
        assert_int_equal(other.usage.prompt_tokens, info->usage.prompt_tokens);
        free(two);
    }
    free(whole);
}

/* A real stream's shape: text, then a tool call, with cache usage; plus a
 * ping and an event type from the future. */
static const char anthropic_sse[] =
    "event: message_start\n"
    "data: {'type':'message_start','message':{'id':'msg_014p7gG3wDgGV9EUtLvnow3U','type':'message','role':'assistant',"
    "'model':'claude-sonnet-4-5-20250929','content':[],'stop_reason':null,'stop_sequence':null,'usage':{'input_tokens':472,"
    "'cache_creation_input_tokens':10,'cache_read_input_tokens':2000,'output_tokens':2}}}\n\n"
    "event: content_block_start\n"
    "data: {'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}\n\n"
    "event: ping\n"
    "data: {'type': 'ping'}\n\n"
    "event: content_block_delta\n"
    "data: {'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'Okay'}}\n\n"
    ": a comment\n"
    "event: content_block_delta\n"
    "data: {'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':', checking.'}}\n\n"
    "event: content_block_stop\n"
    "data: {'type':'content_block_stop','index':0}\n\n"
    "event: content_block_start\n"
    "data: {'type':'content_block_start','index':1,'content_block':{'type':'tool_use','id':'toolu_01T1x1fJ34qAmk2tNTrN7Up6',"
    "'name':'get_weather','input':{}}}\n\n"
    "event: content_block_delta\n"
    "data: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta','partial_json':''}}\n\n"
    "event: content_block_delta\n"
    "data: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta','partial_json':'{\\'city\\': \\'Par'}}\n\n"
    "event: content_block_delta\n"
    "data: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta','partial_json':'is\\'}'}}\n\n"
    "event: content_block_stop\n"
    "data: {'type':'content_block_stop','index':1}\n\n"
    "event: something_new\n"
    "data: {'type':'something_new','detail':1}\n\n"
    "event: message_delta\n"
    "data: {'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':null},'usage':{'output_tokens':89}}\n\n"
    "event: message_stop\n"
    "data: {'type':'message_stop'}\n\n";

#define CHUNK_HEAD "data: {'id':'msg_014p7gG3wDgGV9EUtLvnow3U','object':'chat.completion.chunk','created':1700000000,'model':'client-model',"
static const char chat_from_anthropic[] =
    CHUNK_HEAD "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'logprobs':null,'finish_reason':null}]}\n\n"
    CHUNK_HEAD "'choices':[{'index':0,'delta':{'content':'Okay'},'logprobs':null,'finish_reason':null}]}\n\n"
    CHUNK_HEAD "'choices':[{'index':0,'delta':{'content':', checking.'},'logprobs':null,'finish_reason':null}]}\n\n"
    CHUNK_HEAD "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'id':'toolu_01T1x1fJ34qAmk2tNTrN7Up6','type':'function',"
    "'function':{'name':'get_weather','arguments':''}}]},'logprobs':null,'finish_reason':null}]}\n\n"
    CHUNK_HEAD "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\': \\'Par'}}]},"
    "'logprobs':null,'finish_reason':null}]}\n\n"
    CHUNK_HEAD "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'is\\'}'}}]},"
    "'logprobs':null,'finish_reason':null}]}\n\n"
    CHUNK_HEAD "'choices':[{'index':0,'delta':{},'logprobs':null,'finish_reason':'tool_calls'}]}\n\n";
static const char chat_usage_chunk[] =
    CHUNK_HEAD "'choices':[],'usage':{'prompt_tokens':2482,'completion_tokens':89,'total_tokens':2571,"
    "'prompt_tokens_details':{'cached_tokens':2000}}}\n\n";

static char *concat(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static void test_stream_to_chat(void **state)
{
    tg_anthropic_stream_info_t info;
    char *input = strdup(Q(anthropic_sse));
    char *want = concat(Q(chat_from_anthropic), "data: [DONE]\n\n", "");
    assert_stream(TG_ANTHROPIC_STREAM_TO_CHAT, 0, input, want, &info, 0);
    assert_int_equal(info.done, 1);
    assert_int_equal(info.failed, 0);
    assert_int_equal(info.output_seen, 1);
    assert_int_equal(info.ignored, 1); /* something_new */
    assert_int_equal(info.usage.present, 1);
    assert_int_equal(info.usage.prompt_tokens, 2482);
    assert_int_equal(info.usage.cached_tokens, 2000);
    assert_int_equal(info.usage.cache_write_tokens, 10);
    assert_int_equal(info.usage.completion_tokens, 89);
    free(want);

    /* with the usage chunk, as stream_options.include_usage asks */
    want = concat(Q(chat_from_anthropic), Q(chat_usage_chunk), "data: [DONE]\n\n");
    assert_stream(TG_ANTHROPIC_STREAM_TO_CHAT, 1, input, want, &info, 0);
    free(want);
    free(input);
}

static void test_stream_to_chat_crlf_and_usage_in_message_delta(void **state)
{
    /* CRLF line ends, and a message_delta carrying the input counts too */
    const char *input = Q("event: message_start\r\n"
                          "data: {'type':'message_start','message':{'id':'m1','type':'message','role':'assistant',"
                          "'model':'c','content':[],'usage':{'input_tokens':5,'output_tokens':1}}}\r\n\r\n"
                          "event: content_block_start\r\n"
                          "data: {'type':'content_block_start','index':0,'content_block':{'type':'text','text':'Hi'}}\r\n\r\n"
                          "event: content_block_stop\r\n"
                          "data: {'type':'content_block_stop','index':0}\r\n\r\n"
                          "event: message_delta\r\n"
                          "data: {'type':'message_delta','delta':{'stop_reason':'max_tokens','stop_sequence':null},"
                          "'usage':{'input_tokens':5,'cache_read_input_tokens':7,'output_tokens':3}}\r\n\r\n"
                          "event: message_stop\r\n"
                          "data: {'type':'message_stop'}\r\n\r\n");
    char *in = strdup(input);
#define HEAD1 "data: {'id':'m1','object':'chat.completion.chunk','created':1700000000,'model':'client-model',"
    const char *want = Q(HEAD1 "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'logprobs':null,'finish_reason':null}]}\n\n"
                         HEAD1 "'choices':[{'index':0,'delta':{'content':'Hi'},'logprobs':null,'finish_reason':null}]}\n\n"
                         HEAD1 "'choices':[{'index':0,'delta':{},'logprobs':null,'finish_reason':'length'}]}\n\n"
                         HEAD1 "'choices':[],'usage':{'prompt_tokens':12,'completion_tokens':3,'total_tokens':15,"
                         "'prompt_tokens_details':{'cached_tokens':7}}}\n\n"
                         "data: [DONE]\n\n");
    tg_anthropic_stream_info_t info;
    assert_stream(TG_ANTHROPIC_STREAM_TO_CHAT, 1, in, want, &info, 0);
    assert_int_equal(info.usage.prompt_tokens, 12);
    free(in);
}

static void test_stream_to_chat_error_event(void **state)
{
    char *input = strdup(Q("event: message_start\n"
                           "data: {'type':'message_start','message':{'id':'m1','type':'message','role':'assistant',"
                           "'model':'c','content':[],'usage':{'input_tokens':5,'output_tokens':1}}}\n\n"
                           "event: content_block_start\n"
                           "data: {'type':'content_block_start','index':0,'content_block':{'type':'thinking','thinking':''}}\n\n"
                           "event: content_block_delta\n"
                           "data: {'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta','thinking':'hm'}}\n\n"
                           "event: error\n"
                           "data: {'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}\n\n"
                           "event: message_stop\n"
                           "data: {'type':'message_stop'}\n\n"));
    const char *role = Q(HEAD1 "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'logprobs':null,"
                         "'finish_reason':null}]}\n\n");
    tg_anthropic_stream_info_t info;
    int rc;
    char *got = run_stream(TG_ANTHROPIC_STREAM_TO_CHAT, 0, input, 0, 0, &info, &rc);
    /* the role chunk, then the error in the gateway's stream-error shape, and nothing after */
    assert_memory_equal(got, role, strlen(role));
    assert_string_equal(got + strlen(role),
                        "data: {\"error\":{\"message\":\"the provider's stream failed (overloaded_error): Overloaded\","
                        "\"type\":\"upstream_error\",\"param\":null,\"code\":\"upstream_stream_broken\"}}\n\n");
    assert_int_equal(rc, -1);
    assert_int_equal(info.failed, 1);
    assert_int_equal(info.done, 0);
    assert_int_equal(info.output_seen, 0); /* thinking is not output the client sees */
    assert_int_equal(info.ignored, 1);
    assert_int_equal(info.error.status, 502);
    free(got);
    free(input);
}

static void test_stream_to_chat_broken(void **state)
{
    static const char *const broken[] = {
        /* cut off before message_stop */
        "data: {'type':'message_start','message':{'id':'m','model':'c','usage':{}}}\n\n"
        "data: {'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}\n\n",
        /* garbage */
        "data: {'type':'message_start','message':{'id':'m','model':'c'}}\n\ndata: not json\n\n",
        /* content before message_start */
        "data: {'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'x'}}\n\n",
        /* a delta for a block never started, or of the wrong kind */
        "data: {'type':'message_start','message':{'id':'m','model':'c'}}\n\n"
        "data: {'type':'content_block_delta','index':3,'delta':{'type':'text_delta','text':'x'}}\n\n",
        "data: {'type':'message_start','message':{'id':'m','model':'c'}}\n\n"
        "data: {'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}\n\n"
        "data: {'type':'content_block_delta','index':0,'delta':{'type':'input_json_delta','partial_json':'{'}}\n\n",
        /* an index out of bounds */
        "data: {'type':'message_start','message':{'id':'m','model':'c'}}\n\n"
        "data: {'type':'content_block_start','index':99999999,'content_block':{'type':'text','text':''}}\n\n",
        /* message_start without an id */
        "data: {'type':'message_start','message':{'model':'c'}}\n\n",
        "data: {'no_type':1}\n\n",
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        tg_anthropic_stream_info_t info;
        int rc;
        char *got = run_stream(TG_ANTHROPIC_STREAM_TO_CHAT, 1, Q(broken[i]), 0, 0, &info, &rc);
        assert_int_equal(rc, -1);
        assert_int_equal(info.failed, 1);
        const char *last = strstr(got, "data: {\"error\":");
        if (last == NULL)
            fail_msg("case %zu: no error event in\n%s", i, got);
        assert_non_null(strstr(last, "upstream_stream_broken"));
        free(got);
    }
}

static const char chat_sse[] =
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{'role':'assistant','content':'','refusal':null},'logprobs':null,'finish_reason':null}],'usage':null}\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{'content':'Let me'},'logprobs':null,'finish_reason':null}],'usage':null}\n\n"
    ": keep-alive\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{'content':' check.'},'logprobs':null,'finish_reason':null}],'usage':null}\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{'tool_calls':[{'index':0,'id':'call_A','type':'function','function':{'name':'get_weather','arguments':''}}]},"
    "'logprobs':null,'finish_reason':null}],'usage':null}\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\':'}}]},'logprobs':null,'finish_reason':null}]}\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{'tool_calls':[{'index':0,'function':{'arguments':'\\'Oslo\\'}'}}]},'logprobs':null,'finish_reason':null}]}\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{'tool_calls':[{'index':1,'id':'call_B','type':'function','function':{'name':'now','arguments':'{}'}}]},"
    "'logprobs':null,'finish_reason':null}]}\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[{'index':0,"
    "'delta':{},'logprobs':null,'finish_reason':'tool_calls'}]}\n\n"
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-4o','choices':[],"
    "'usage':{'prompt_tokens':100,'completion_tokens':20,'total_tokens':120,'prompt_tokens_details':{'cached_tokens':64}}}\n\n"
    "data: [DONE]\n\n";

static const char anthropic_from_chat[] =
    "event: message_start\ndata: {'type':'message_start','message':{'id':'chatcmpl-1','type':'message','role':'assistant',"
    "'model':'client-model','content':[],'stop_reason':null,'stop_sequence':null,'usage':{'input_tokens':0,"
    "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,'output_tokens':0}}}\n\n"
    "event: content_block_start\ndata: {'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}\n\n"
    "event: content_block_delta\ndata: {'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'Let me'}}\n\n"
    "event: content_block_delta\ndata: {'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':' check.'}}\n\n"
    "event: content_block_stop\ndata: {'type':'content_block_stop','index':0}\n\n"
    "event: content_block_start\ndata: {'type':'content_block_start','index':1,'content_block':{'type':'tool_use','id':'call_A',"
    "'name':'get_weather','input':{}}}\n\n"
    "event: content_block_delta\ndata: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta',"
    "'partial_json':'{\\'city\\':'}}\n\n"
    "event: content_block_delta\ndata: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta',"
    "'partial_json':'\\'Oslo\\'}'}}\n\n"
    "event: content_block_stop\ndata: {'type':'content_block_stop','index':1}\n\n"
    "event: content_block_start\ndata: {'type':'content_block_start','index':2,'content_block':{'type':'tool_use','id':'call_B',"
    "'name':'now','input':{}}}\n\n"
    "event: content_block_delta\ndata: {'type':'content_block_delta','index':2,'delta':{'type':'input_json_delta',"
    "'partial_json':'{}'}}\n\n"
    "event: content_block_stop\ndata: {'type':'content_block_stop','index':2}\n\n"
    "event: message_delta\ndata: {'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':null},"
    "'usage':{'input_tokens':36,'cache_creation_input_tokens':0,'cache_read_input_tokens':64,'output_tokens':20}}\n\n"
    "event: message_stop\ndata: {'type':'message_stop'}\n\n";

/* Anthropic events are compared member by member, whatever the order. */
static void assert_events(const char *got, const char *want)
{
    const char *g = got, *w = want;
    while (*w != '\0') {
        const char *ge = strstr(g, "\n\n"), *we = strstr(w, "\n\n");
        assert_non_null(ge);
        assert_non_null(we);
        const char *gd = strstr(g, "data: "), *wd = strstr(w, "data: ");
        assert_int_equal(gd - g, wd - w);
        assert_memory_equal(g, w, (size_t)(gd - g)); /* the event: line */
        char *gj = strndup(gd + 6, (size_t)(ge - gd - 6)), *wj = strndup(wd + 6, (size_t)(we - wd - 6));
        assert_json(gj, wj);
        free(wj);
        g = ge + 2, w = we + 2;
    }
    assert_string_equal(g, "");
}

static void test_stream_from_chat(void **state)
{
    tg_anthropic_stream_info_t info;
    int rc;
    char *input = strdup(Q(chat_sse));
    char *want = strdup(Q(anthropic_from_chat));
    char *got = run_stream(TG_ANTHROPIC_STREAM_FROM_CHAT, 0, input, 0, 0, &info, &rc);
    assert_events(got, want);
    assert_int_equal(rc, 0);
    assert_int_equal(info.done, 1);
    assert_int_equal(info.output_seen, 1);
    assert_int_equal(info.usage.prompt_tokens, 100);
    assert_int_equal(info.usage.cached_tokens, 64);
    assert_int_equal(info.usage.completion_tokens, 20);
    assert_int_equal(info.ignored, 0);
    /* whatever the splits, the same bytes */
    assert_stream(TG_ANTHROPIC_STREAM_FROM_CHAT, 0, input, got, &info, 0);
    free(got);
    free(want);
    free(input);
}

static void test_stream_from_chat_endings(void **state)
{
    tg_anthropic_stream_info_t info;
    int rc;
    /* no [DONE], but the provider said why it stopped: complete */
    char *got = run_stream(TG_ANTHROPIC_STREAM_FROM_CHAT, 0,
                           Q("data: {'id':'c','model':'g','choices':[{'index':0,'delta':{'content':'Hi'}}]}\n\n"
                             "data: {'id':'c','model':'g','choices':[{'index':0,'delta':{},'finish_reason':'length'}],"
                             "'usage':{'prompt_tokens':3,'completion_tokens':1}}\n\n"),
                           0, 0, &info, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(info.done, 1);
    assert_non_null(strstr(got, "\"stop_reason\":\"max_tokens\""));
    free(got);
    /* a last event without its blank line */
    got = run_stream(TG_ANTHROPIC_STREAM_FROM_CHAT, 0,
                     Q("data: {'id':'c','model':'g','choices':[{'index':0,'delta':{'content':'Hi'},'finish_reason':'stop'}]}\n\n"
                       "data: [DONE]"),
                     0, 0, &info, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(got, "event: message_stop"));
    free(got);

    static const char *const broken[] = {
        "data: {'id':'c','model':'g','choices':[{'index':0,'delta':{'content':'Hi'}}]}\n\n",
        "data: {'error':{'message':'The server had an error','type':'server_error'}}\n\n",
        "data: [DONE]\n\n",
        "data: {'id':'c','model':'g','choices':[{'index':0,'delta':{'tool_calls':["
        "{'index':0,'id':'a','function':{'name':'f','arguments':''}}]}}]}\n\n"
        "data: {'id':'c','model':'g','choices':[{'index':0,'delta':{'tool_calls':["
        "{'index':1,'id':'b','function':{'name':'g','arguments':''}}]}}]}\n\n"
        "data: {'id':'c','model':'g','choices':[{'index':0,'delta':{'tool_calls':["
        "{'index':0,'function':{'arguments':'{}'}}]}}]}\n\n",
        "data: {'id':'c','model':'g','choices':[{'index':1,'delta':{'content':'x'}}]}\n\n",
        "data: {'id':'c','model':'g','choices':[{'index':0,'delta':{'tool_calls':[{'index':0}]}}]}\n\n",
        "data: {'id':'c','model':'g'}\n\n",
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        got = run_stream(TG_ANTHROPIC_STREAM_FROM_CHAT, 0, Q(broken[i]), 0, 0, &info, &rc);
        assert_int_equal(rc, -1);
        assert_int_equal(info.failed, 1);
        const char *ev = strstr(got, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"");
        if (ev == NULL)
            fail_msg("case %zu: no error event in\n%s", i, got);
        assert_string_equal(ev + strlen(ev) - 2, "\n\n");
        free(got);
    }
}

static void test_stream_limits_and_stop(void **state)
{
    sink_t sink = {0};
    /* an event larger than the bound fails the stream */
    tg_anthropic_stream_t *s = tg_anthropic_stream_new(TG_ANTHROPIC_STREAM_TO_CHAT, NULL, 0, 1, 64);
    char big[200];
    memset(big, 'x', sizeof(big));
    assert_int_equal(tg_anthropic_stream_feed(s, "data: ", 6, collect, &sink), 0);
    assert_int_equal(tg_anthropic_stream_feed(s, big, sizeof(big), collect, &sink), -1);
    assert_int_equal(tg_anthropic_stream_info(s)->failed, 1);
    assert_int_equal(tg_anthropic_stream_feed(s, "\n\n", 2, collect, &sink), -1); /* ignored after */
    assert_int_equal(sink.events, 1);
    tg_anthropic_stream_free(s);
    free(sink.text);

    /* the emit function stops the feed with its value */
    memset(&sink, 0, sizeof(sink));
    sink.stop_after = 2;
    const char *input = Q(anthropic_sse);
    s = tg_anthropic_stream_new(TG_ANTHROPIC_STREAM_TO_CHAT, NULL, 0, 1, 0);
    assert_int_equal(tg_anthropic_stream_feed(s, input, strlen(input), collect, &sink), 7);
    assert_int_equal(sink.events, 2);
    assert_non_null(strstr(sink.text, "claude-sonnet-4-5-20250929")); /* model NULL: the provider's */
    tg_anthropic_stream_free(s);
    free(sink.text);
    tg_anthropic_stream_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_request_basic),
        cmocka_unit_test(test_chat_request_max_tokens),
        cmocka_unit_test(test_chat_request_content_parts),
        cmocka_unit_test(test_chat_request_tools),
        cmocka_unit_test(test_chat_request_multi_turn_tools),
        cmocka_unit_test(test_chat_request_service_tier),
        cmocka_unit_test(test_chat_request_refuses_untranslatable_fields),
        cmocka_unit_test(test_chat_request_refuses_untranslatable_messages),
        cmocka_unit_test(test_messages_request_basic),
        cmocka_unit_test(test_messages_request_blocks_and_tools),
        cmocka_unit_test(test_messages_request_refusals),
        cmocka_unit_test(test_messages_response_to_chat),
        cmocka_unit_test(test_stop_reasons),
        cmocka_unit_test(test_chat_response_to_messages),
        cmocka_unit_test(test_bad_responses_are_502),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_stream_to_chat),
        cmocka_unit_test(test_stream_to_chat_crlf_and_usage_in_message_delta),
        cmocka_unit_test(test_stream_to_chat_error_event),
        cmocka_unit_test(test_stream_to_chat_broken),
        cmocka_unit_test(test_stream_from_chat),
        cmocka_unit_test(test_stream_from_chat_endings),
        cmocka_unit_test(test_stream_limits_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, free_pool);
}
