/* redact.c: finding secrets in text, for the logger (obs/log.h lists the
 * rules): the value of a parameter or header named like a secret, the
 * token after "Bearer "/"Basic ", a token with a provider's key prefix, a
 * JWT, a long hex word, a long random-looking base64 run, a URL's user
 * and password, and every registered value. Each rule looks at whole words
 * or runs and every byte is looked at a bounded number of times, so a scan_t
 * is linear in its input whatever the input. */
#include "obs/redact.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "obs/log.h"

/* Byte classes: one table lookup per question asked of a byte. */
enum {
    CH_UPPER = 1 << 0,
    CH_LOWER = 1 << 1,
    CH_DIGIT = 1 << 2,
    CH_HEX = 1 << 3,   /* [0-9A-Fa-f] */
    CH_WORD = 1 << 4,  /* joins a word: [A-Za-z0-9_] */
    CH_RUN = 1 << 5,   /* base64 and base64url but '/' and '=': [A-Za-z0-9+_-] */
    CH_NAME = 1 << 6,  /* a parameter or header name: [A-Za-z0-9_.-] and the '%' of %XX */
    CH_END = 1 << 7,   /* ends an unquoted value: space, controls, & " ' , ; */
    CH_START = 1 << 8, /* may start a secret or a run, or separate a name from its value */
    CH_SLASH = 1 << 9, /* '/': in a run, between its segments */
};
#define CH_ALNUM (CH_UPPER | CH_LOWER | CH_DIGIT)
#define CH_KEY (CH_WORD | CH_RUN | CH_NAME | CH_START)  /* every class of a letter or digit */

static const uint16_t char_class[256] = {
    [0x00 ... 0x20] = CH_END, [0x7F] = CH_END,
    ['&'] = CH_END, ['"'] = CH_END, ['\''] = CH_END, [','] = CH_END, [';'] = CH_END,
    ['0' ... '9'] = CH_DIGIT | CH_HEX | CH_KEY,
    ['A' ... 'F'] = CH_UPPER | CH_HEX | CH_KEY,
    ['G' ... 'Z'] = CH_UPPER | CH_KEY,
    ['a' ... 'f'] = CH_LOWER | CH_HEX | CH_KEY,
    ['g' ... 'z'] = CH_LOWER | CH_KEY,
    ['_'] = CH_WORD | CH_RUN | CH_NAME | CH_START,
    ['-'] = CH_RUN | CH_NAME | CH_START,
    ['+'] = CH_RUN | CH_START,
    ['.'] = CH_NAME, ['%'] = CH_NAME | CH_START,
    ['/'] = CH_START | CH_SLASH, ['='] = CH_START, [':'] = CH_START,
};

static unsigned char_is(char c, unsigned classes)
{
    return char_class[(unsigned char)c] & classes;
}

static unsigned hex_value(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* Whether s[0..n) starts with a percent-encoded byte. */
static bool is_pct(const char *s, size_t n)
{
    return n >= 3 && s[0] == '%' && char_is(s[1], CH_HEX) && char_is(s[2], CH_HEX);
}

/* Characters of a key or token: [A-Za-z0-9] and -_.~+/= */
static const bool token_char[256] = {
    ['-'] = true, ['_'] = true, ['.'] = true, ['~'] = true, ['+'] = true, ['/'] = true, ['='] = true,
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
};

/* Length of the token at s, without trailing dots: a sentence's full stop
 * or the "..." of a cut copy (redacting that would undo the mark). */
static size_t token_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && token_char[(unsigned char)s[i]])
        i++;
    while (i > 0 && s[i - 1] == '.')
        i--;
    return i;
}

/* Prefixes that mark a provider API key (OpenAI, Anthropic, Groq, xAI,
 * Google, Stripe-style, GitHub, tollgate's own "tg-") or a JWT ("eyJ", base64 of
 * '{"'). A token with one of them and at least KEY_MIN_LEN characters is
 * treated as a secret. */
static const char *const key_prefixes[] = {
    "sk-", "sk_", "rk_", "pk_", "gsk_", "xai-", "AIza", "ghp_", "tg-", "tg_", "tgk_", "eyJ",
};
#define KEY_MIN_LEN 12

/* First bytes of a key prefix or of "Bearer"/"Basic" (either case): the
 * scan_t tries the patterns only where one of these starts a word. */
static const bool pattern_start[256] = {
    ['s'] = true, ['r'] = true, ['p'] = true, ['g'] = true, ['x'] = true, ['A'] = true,
    ['t'] = true, ['e'] = true, ['b'] = true, ['B'] = true,
};

/* Length of an authorization scheme ("Bearer", "Basic", any case) and the
 * space after it (' ', or '+' or "%20" in a URL) at s, 0 if none. */
static size_t scheme_len(const char *s, size_t n)
{
    static const struct { const char *name; size_t len; } schemes[] = {{"bearer", 6}, {"basic", 5}};
    for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
        size_t w = schemes[k].len;
        if (n <= w || strncasecmp(s, schemes[k].name, w) != 0)
            continue;
        if (s[w] == ' ' || s[w] == '+')
            return w + 1;
        if (n - w >= 3 && memcmp(s + w, "%20", 3) == 0)
            return w + 3;
    }
    return 0;
}

/* Length of a secret starting at s[0], a word start, that must be hidden,
 * 0 if none. For "Bearer x" only x is reported (after *skip bytes). */
static size_t secret_at(const char *s, size_t n, size_t *skip)
{
    *skip = 0;
    size_t scheme = scheme_len(s, n);
    if (scheme != 0) {
        size_t t = token_len(s + scheme, n - scheme);
        if (t > 0) {
            *skip = scheme;
            return t;
        }
    }
    for (size_t k = 0; k < sizeof(key_prefixes) / sizeof(key_prefixes[0]); k++) {
        size_t plen = strlen(key_prefixes[k]);
        if (n >= plen && strncmp(s, key_prefixes[k], plen) == 0) {
            size_t t = token_len(s, n);
            if (t >= KEY_MIN_LEN)
                return t;
        }
    }
    return 0;
}

/* Shortest hex word and random run taken for a key: 128 bits in hex, 24
 * bytes in base64. A trace id (32 hex digits) outside its own field is
 * hidden too: it cannot be told from a hex key (Azure OpenAI's are 32). */
#define HEX_MIN 32
#define RUN_MIN 32

/* Length of a word of at least HEX_MIN hex digits at s, 0 if none. Random
 * hex has both digits and letters (all of one kind: 1 in 3 million at 32
 * digits); "aaaa..." or a long decimal number is not a key. */
static size_t hex_at(const char *s, size_t n)
{
    size_t i = 0;
    unsigned seen = 0;
    for (; i < n && char_is(s[i], CH_HEX); i++)
        seen |= char_is(s[i], CH_ALNUM);
    return i >= HEX_MIN && (i == n || !char_is(s[i], CH_ALNUM)) && seen & CH_DIGIT && seen != CH_DIGIT ? i : 0;
}

/* End of the run of base64 characters from s[i] ('/' included when
 * `slash`; a %XX counts as one character, as URLs carry '+', '/' and '='
 * so). *chars receives its length in characters. */
static size_t run_end(const char *s, size_t n, size_t i, bool slash, size_t *chars)
{
    size_t count = 0;
    for (;; count++) {
        if (i < n && (char_is(s[i], CH_RUN) || (slash && s[i] == '/')))
            i++;
        else if (is_pct(s + i, n - i))
            i += 3;
        else
            break;
    }
    *chars = count;
    return i;
}

/* Whether the run s[0..n) looks like a random key rather than words: upper
 * and lower case letters and digits, and a change of class between at
 * least 40% of adjacent letters and digits. Random base64 changes class
 * at 62% of them; words, paths and model names far less
 * ("meta-llama/Meta-Llama-3-70B-Instruct": 19%). Of random 32-character
 * base64 strings about 1% pass unnoticed, of 44-character ones 0.3%. */
static bool looks_random(const char *s, size_t n)
{
    unsigned seen = 0, prev = 0;
    size_t pairs = 0, changes = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cl = char_is(s[i], CH_ALNUM);
        if (s[i] == '%')
            i += 2;  /* an encoded '+', '/' or '=': not a letter of the key */
        if (cl != 0 && prev != 0) {
            pairs++;
            changes += cl != prev;
        }
        seen |= cl;
        prev = cl;
    }
    return seen == CH_ALNUM && changes * 5 >= pairs * 2;
}

/* Base64 padding after a run: up to two '=' (or %3D). */
static size_t padding_len(const char *s, size_t n)
{
    size_t i = 0;
    for (int k = 0; k < 2; k++) {
        if (i < n && s[i] == '=')
            i++;
        else if (is_pct(s + i, n - i) && strncasecmp(s + i, "%3D", 3) == 0)
            i += 3;
        else
            break;
    }
    return i;
}

/* Names of parameters, headers and fields whose value is a secret, matched
 * without regard to case as the whole name or as its last part after '_',
 * '-' or '.' (X-Api-Key, openai_api_key, access_token, client_secret,
 * db.password), percent-encoded or not (api%5Fkey). */
static const struct { const char *name; size_t len; } secret_names[] = {
#define SECRET_NAME(name) {name, sizeof(name) - 1}
    SECRET_NAME("key"), SECRET_NAME("apikey"), SECRET_NAME("token"), SECRET_NAME("secret"),
    SECRET_NAME("password"), SECRET_NAME("passwd"), SECRET_NAME("pwd"), SECRET_NAME("passphrase"),
    SECRET_NAME("auth"), SECRET_NAME("authorization"), SECRET_NAME("credential"),
    SECRET_NAME("credentials"), SECRET_NAME("signature"), SECRET_NAME("sig"),
#undef SECRET_NAME
};

/* Longest name tail compared: more is never needed to tell a secret's. */
#define NAME_MAX_LEN 64

/* Last letters of the secret names, either case: most names end otherwise
 * and are told apart with one lookup. */
static const bool secret_name_end[256] = {
    ['y'] = true, ['n'] = true, ['t'] = true, ['d'] = true, ['e'] = true, ['h'] = true,
    ['l'] = true, ['s'] = true, ['g'] = true, ['Y'] = true, ['N'] = true, ['T'] = true,
    ['D'] = true, ['E'] = true, ['H'] = true, ['L'] = true, ['S'] = true, ['G'] = true,
};

bool tg_redact_is_secret_name(const char *name, size_t len)
{
    if (len > NAME_MAX_LEN) {
        name += len - NAME_MAX_LEN;
        len = NAME_MAX_LEN;
    }
    bool encoded_end = len >= 3 && name[len - 3] == '%';
    if (len == 0 || (!secret_name_end[(unsigned char)name[len - 1]] && !encoded_end))
        return false;
    char decoded[NAME_MAX_LEN];
    if (memchr(name, '%', len) != NULL) {
        size_t m = 0;
        for (size_t i = 0; i < len; i++) {
            decoded[m++] = is_pct(name + i, len - i)
                ? (char)(hex_value(name[i + 1]) << 4 | hex_value(name[i + 2])) : name[i];
            if (is_pct(name + i, len - i))
                i += 2;
        }
        name = decoded;
        len = m;
    }
    char last = (char)(name[len - 1] | 0x20);
    for (size_t k = 0; k < sizeof(secret_names) / sizeof(secret_names[0]); k++) {
        size_t w = secret_names[k].len;
        if (len >= w && last == secret_names[k].name[w - 1] &&
            strncasecmp(name + len - w, secret_names[k].name, w) == 0 &&
            (len == w || memchr("_-.", name[len - w - 1], 3) != NULL))
            return true;
    }
    return false;
}

/* The user info of a URL with a password (scheme://user:password@host),
 * the authority starting at s[i]: sets *at and returns its length, 0 if
 * none. The user goes too: it is often a key id, and hiding it leaves no
 * text between the "//" and the secret for other rules to miss. */
static size_t userinfo_at(const char *s, size_t n, size_t i, size_t *at)
{
    bool password = false;
    size_t start = i;
    for (; i < n && s[i] != '@'; i++) {
        if (s[i] == '/' || s[i] == '?' || s[i] == '#' || char_is(s[i], CH_END))
            return 0;
        password |= s[i] == ':';
    }
    if (i == n || !password)
        return 0;
    *at = start;
    return i - start;
}

/* At a separator s[i] ('=' or ':'): when the name before it is a secret's
 * (name=value in a query, "name": "value" in JSON, Name: value in a header
 * or a message), sets *at to its value and returns the value's length;
 * also a URL's user info. 0 if none. A quoted value runs to its closing
 * quote; an unquoted one to a space, '&', a quote, ',' or ';', without
 * trailing dots (as a token), and past an authorization scheme
 * ("token: Bearer x" hides x). */
static size_t value_secret_at(const char *s, size_t n, size_t i, size_t *at)
{
    if (s[i] == ':' && n - i > 2 && s[i + 1] == '/' && s[i + 2] == '/')
        return userinfo_at(s, n, i + 3, at);
    size_t end = i;
    while (end > 0 && s[end - 1] == ' ')
        end--;
    if (end > 0 && (s[end - 1] == '"' || s[end - 1] == '\''))
        end--;
    size_t begin = end;
    while (begin > 0 && end - begin < NAME_MAX_LEN && char_is(s[begin - 1], CH_NAME))
        begin--;
    if (begin == end || !tg_redact_is_secret_name(s + begin, end - begin))
        return 0;
    size_t v = i + 1;
    while (v < n && s[v] == ' ')
        v++;
    size_t e = v;
    if (v < n && (s[v] == '"' || s[v] == '\'')) {
        char quote = s[v++];
        for (e = v; e < n && s[e] != quote; e++)
            if (s[e] == '\\' && e + 1 < n)
                e++;
    } else {
        v += scheme_len(s + v, n - v);
        for (e = v; e < n && !char_is(s[e], CH_END); e++)
            ;
        while (e > v && s[e - 1] == '.')
            e--;
    }
    *at = v;
    return e - v;
}

/* Registered secrets: append-only fixed storage, so readers need no lock
 * (an entry is complete before the count that publishes it is stored). */
#define SECRET_SLOTS 64
#define SECRET_MAX_LEN 512
#define SECRET_MIN_LEN 6
static char registered[SECRET_SLOTS][SECRET_MAX_LEN];
static size_t registered_len[SECRET_SLOTS];
static atomic_size_t registered_count;
/* First bytes of the registered secrets, set before the count publishing
 * the secret: a reader that sees the count sees the mark. */
static atomic_bool registered_start[256];
static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;

void tg_log_add_secret(const char *secret)
{
    size_t len = secret ? strlen(secret) : 0;
    if (len < SECRET_MIN_LEN || len >= SECRET_MAX_LEN)
        return;
    pthread_mutex_lock(&registered_lock);
    size_t n = atomic_load_explicit(&registered_count, memory_order_relaxed);
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
        known = registered_len[i] == len && memcmp(registered[i], secret, len) == 0;
    if (!known && n < SECRET_SLOTS) {
        memcpy(registered[n], secret, len);
        registered_len[n] = len;
        atomic_store_explicit(&registered_start[(unsigned char)secret[0]], true, memory_order_relaxed);
        atomic_store_explicit(&registered_count, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&registered_lock);
}

/* Length of a registered secret (among the first `count`) starting at s,
 * 0 if none. */
static __attribute__((noinline)) size_t registered_at(const char *s, size_t n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (registered[i][0] == s[0] && registered_len[i] <= n &&
            memcmp(registered[i], s, registered_len[i]) == 0)
            return registered_len[i];
    return 0;
}

/* A scan_t of s[0..n): what the rules that judge whole runs remember. Each
 * run of base64 characters ('/' included) and each of its '/'-segments is
 * judged once: a random run is hidden whole, and where a path is not random
 * as a whole, a key in one of its segments still is. */
typedef struct scan {
    const char *s;
    size_t n;
    tg_redact_mode_t mode;
    size_t run_stop;      /* end of the run judged last */
    size_t segment_stop;  /* end of the segment judged last */
    bool run_has_slash;   /* that run is long enough and has segments */
} scan_t;

/* The rules for a secret starting at s[i], a byte that does not continue a
 * word (`before` is the class of the byte before it, 0 at the start of a
 * scan_t): sets *at and returns
 * the secret's length, 0 if none. Kept out of line, as is registered_at,
 * so that find_secret's loop over the bytes inside words stays in
 * registers (inlined, it cost twice the instructions per byte). */
static __attribute__((noinline)) size_t rules_at(scan_t *sc, size_t i, unsigned before, size_t *at)
{
    const char *s = sc->s;
    size_t n = sc->n;
    unsigned char c = (unsigned char)s[i];
    bool shapes = sc->mode == TG_REDACT_TEXT;
    size_t len, skip, chars;
    if (shapes && i >= sc->run_stop && !(before & (CH_RUN | CH_SLASH)) &&
        (sc->run_stop = run_end(s, n, i, true, &chars)) > i) {
        if (chars >= RUN_MIN && looks_random(s + i, sc->run_stop - i)) {
            *at = i;
            return sc->run_stop - i + padding_len(s + sc->run_stop, n - sc->run_stop);
        }
        sc->run_has_slash = chars >= RUN_MIN && memchr(s + i, '/', sc->run_stop - i) != NULL;
    }
    if (sc->run_has_slash && i < sc->run_stop && i >= sc->segment_stop && c != '/') {
        sc->segment_stop = run_end(s, n, i, false, &chars);
        if (chars >= RUN_MIN && looks_random(s + i, sc->segment_stop - i)) {
            *at = i;
            return sc->segment_stop - i + padding_len(s + sc->segment_stop, n - sc->segment_stop);
        }
    }
    if (pattern_start[c] && !(before & CH_WORD) && (len = secret_at(s + i, n - i, &skip)) != 0) {
        *at = i + skip;
        return len;
    }
    if (shapes && char_class[c] & CH_HEX && !(before & CH_WORD) && (len = hex_at(s + i, n - i)) != 0) {
        *at = i;
        return len;
    }
    if (c == '=' || c == ':')
        return value_secret_at(s, n, i, at);
    return 0;
}

/* Length of a registered secret (among the first `count`) starting at
 * s[i], 0 if none; one lookup when none starts with this byte. */
static size_t registered_here(const char *s, size_t n, size_t i, size_t count)
{
    if (count == 0 || !atomic_load_explicit(&registered_start[(unsigned char)s[i]], memory_order_relaxed))
        return 0;
    return registered_at(s + i, n - i, count);
}

/* The secret a rule found at s[i] (*at, len), made safe against registered
 * secrets, which may hold any byte: one that starts among the bytes a rule
 * steps over before its span ("Bearer ", a quote) comes first; one that
 * starts inside the span and runs past it extends the span. */
static size_t settle(const char *s, size_t n, size_t i, size_t *at, size_t len, size_t count)
{
    for (size_t j = i + 1; j < *at; j++) {
        size_t r = registered_here(s, n, j, count);
        if (r != 0) {
            *at = j;
            len = r;
            break;
        }
    }
    for (size_t j = *at; j < *at + len; j++) {
        size_t r = registered_here(s, n, j, count);
        if (j + r > *at + len)
            len = j + r - *at;
    }
    return len;
}

/* The first secret of s[0..n) that starts at or after `from` and before
 * `stop`: sets *at and returns its length, or returns 0. The rules see the
 * whole of s, so a secret that runs past `stop` is found whole. `from`
 * starts words and runs: after a secret (which may end inside a run, its
 * padding taken) what follows is judged afresh. */
size_t tg_redact_find(const char *s, size_t n, size_t from, size_t stop, tg_redact_mode_t mode, size_t *at)
{
    size_t count = atomic_load_explicit(&registered_count, memory_order_acquire);
    scan_t sc = {.s = s, .n = n, .mode = mode, .run_stop = from, .segment_stop = from};
    unsigned prev = 0;
    for (size_t i = from; i < stop; i++) {
        unsigned before = prev;
        size_t len;
        prev = char_class[(unsigned char)s[i]];
        if ((len = registered_here(s, n, i, count)) != 0) {
            *at = i;
            return settle(s, n, i, at, len, count);
        }
        /* Inside a word only a registered secret starts (most bytes). */
        if (prev & CH_START && !(before & prev & CH_WORD) && (len = rules_at(&sc, i, before, at)) != 0)
            return settle(s, n, i, at, len, count);
    }
    return 0;
}

size_t tg_log_redact_copy(char *dst, size_t cap, const char *src, size_t len)
{
    if (cap == 0)
        return 0;
    size_t room = cap - 1;
    size_t mark = room < 3 ? room : 3;  /* "..." ends a cut copy */
    size_t keep = room - mark;          /* what a cut copy keeps at most */
    /* safe: the longest prefix written that a cut copy may keep: it ends
     * neither inside a marker nor, if it can help it, inside a UTF-8
     * character (safe_from: where the clear text it ends in starts). */
    size_t out = 0, safe = 0, safe_from = 0;
    bool cut = false;
    size_t i = 0;
    for (;;) {
        size_t at = len;
        size_t secret = tg_redact_find(src, len, i, i + room - out < len ? i + room - out : len,
                                    TG_REDACT_TEXT, &at);
        size_t take = (secret != 0 ? at : len) - i;
        if (take > room - out) {
            take = room - out;
            cut = true;
        }
        memcpy(dst + out, src + i, take);
        if (out <= keep) {
            safe_from = out;
            safe = out + take < keep ? out + take : keep;
        }
        out += take;
        if (cut || secret == 0)
            break;
        if (sizeof(TG_REDACTED) - 1 > room - out) {
            cut = true;
            break;
        }
        memcpy(dst + out, TG_REDACTED, sizeof(TG_REDACTED) - 1);
        out += sizeof(TG_REDACTED) - 1;
        if (out <= keep)
            safe = safe_from = out;
        i = at + secret;
    }
    if (cut) {
        size_t written = out;
        out = safe;
        while (out > safe_from && out < written && ((unsigned char)dst[out] & 0xC0) == 0x80)
            out--;
        memcpy(dst + out, "...", mark);
        out += mark;
    }
    dst[out] = '\0';
    return out;
}
