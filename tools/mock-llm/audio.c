/*
 * mock-llm audio: POST /v1/audio/transcriptions and /v1/audio/translations
 * (multipart/form-data with a file and a model; json, text, srt, vtt or
 * verbose_json answers, usage by duration or by tokens as the model family
 * has it) and POST /v1/audio/speech (silence in the asked format: a valid
 * WAV or raw PCM, silent MPEG frames for mp3, a format signature and zeros
 * for the others).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "mock.h"

/* What a file without a WAV header is taken to be: 128 kbit/s. */
#define BYTES_PER_SECOND_DEFAULT 16000
/* Audio tokens per second of a GPT transcription model. */
#define AUDIO_TOKENS_PER_SECOND 10

/* ---- multipart/form-data ----------------------------------------------- */

struct form {
    h2o_iovec_t file, model, response_format, prompt, language;
    int has_file, has_model;
};

static const char *find(const char *hay, size_t len, const char *needle, size_t needle_len)
{
    return memmem(hay, len, needle, needle_len);
}

/* The boundary parameter of a multipart/form-data Content-Type. */
static int form_boundary(const h2o_req_t *req, h2o_iovec_t *boundary)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i == -1)
        return -1;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 19 || strncasecmp(v.base, "multipart/form-data", 19) != 0)
        return -1;
    const char *p = find(v.base, v.len, H2O_STRLIT("boundary="));
    if (p == NULL)
        return -1;
    p += 9;
    const char *end = v.base + v.len;
    if (p < end && *p == '"') {
        p++;
        const char *close = memchr(p, '"', (size_t)(end - p));
        if (close == NULL)
            return -1;
        end = close;
    } else {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (semi != NULL)
            end = semi;
    }
    *boundary = h2o_iovec_init(p, (size_t)(end - p));
    return boundary->len > 0 && boundary->len <= 200 ? 0 : -1;
}

/* The `name="..."` of a part's headers (not the `filename="..."`). */
static h2o_iovec_t part_name(const char *headers, size_t len)
{
    for (const char *p = headers; (p = find(p, len - (size_t)(p - headers), H2O_STRLIT("name=\""))) != NULL; p++) {
        if (p > headers && (p[-1] == ' ' || p[-1] == ';')) {
            const char *start = p + 6, *close = memchr(start, '"', len - (size_t)(start - headers));
            if (close != NULL)
                return h2o_iovec_init(start, (size_t)(close - start));
        }
    }
    return h2o_iovec_init(NULL, 0);
}

static int read_form(h2o_req_t *req, struct form *form)
{
    h2o_iovec_t boundary;
    char delim[208];
    memset(form, 0, sizeof(*form));
    if (form_boundary(req, &boundary) != 0 || req->entity.base == NULL)
        return -1;
    size_t delim_len = (size_t)snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)boundary.len, boundary.base);
    const char *body = req->entity.base, *end = body + req->entity.len;
    const char *p;
    /* the first delimiter usually opens the body, without the CRLF before it */
    if (req->entity.len >= delim_len - 2 && memcmp(body, delim + 2, delim_len - 2) == 0)
        p = body + delim_len - 2;
    else if ((p = find(body, req->entity.len, delim, delim_len)) != NULL)
        p += delim_len;
    else
        return -1;
    while (end - p >= 2 && memcmp(p, "\r\n", 2) == 0) {
        const char *headers = p + 2;
        const char *blank = find(headers, (size_t)(end - headers), H2O_STRLIT("\r\n\r\n"));
        if (blank == NULL)
            return -1;
        const char *content = blank + 4;
        const char *next = find(content, (size_t)(end - content), delim, delim_len);
        if (next == NULL)
            return -1;
        h2o_iovec_t name = part_name(headers, (size_t)(blank - headers));
        h2o_iovec_t value = h2o_iovec_init(content, (size_t)(next - content));
        if (h2o_memis(name.base, name.len, H2O_STRLIT("file"))) {
            form->file = value;
            form->has_file = 1;
        } else if (h2o_memis(name.base, name.len, H2O_STRLIT("model"))) {
            form->model = value;
            form->has_model = 1;
        } else if (h2o_memis(name.base, name.len, H2O_STRLIT("response_format"))) {
            form->response_format = value;
        } else if (h2o_memis(name.base, name.len, H2O_STRLIT("prompt"))) {
            form->prompt = value;
        } else if (h2o_memis(name.base, name.len, H2O_STRLIT("language"))) {
            form->language = value;
        }
        p = next + delim_len;
    }
    return end - p >= 2 && memcmp(p, "--", 2) == 0 ? 0 : -1;
}

/* ---- transcriptions ---------------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Seconds of audio: from a WAV file's header, else by size at 128 kbit/s. */
static double audio_duration(h2o_iovec_t file)
{
    const unsigned char *p = (const unsigned char *)file.base;
    uint32_t byte_rate = 0;
    if (file.len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0) {
        for (size_t at = 12; at + 8 <= file.len;) {
            uint32_t size = le32(p + at + 4);
            if (memcmp(p + at, "fmt ", 4) == 0 && size >= 16 && at + 8 + 12 <= file.len)
                byte_rate = le32(p + at + 8 + 8);
            if (memcmp(p + at, "data", 4) == 0 && byte_rate != 0)
                return (double)(size < file.len - at - 8 ? size : file.len - at - 8) / byte_rate;
            if (size > file.len - at - 8)
                break;
            at += 8 + size + (size & 1);
        }
    }
    return (double)file.len / BYTES_PER_SECOND_DEFAULT;
}

static void append_timestamp(struct mock_buf *out, double seconds, char separator)
{
    unsigned long ms = (unsigned long)llround(seconds * 1000);
    mock_buf_printf(out, "%02lu:%02lu:%02lu%c%03lu", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, separator, ms % 1000);
}

void mock_answer_transcriptions(struct mock_call *call)
{
    h2o_req_t *req = call->req;
    struct form form;
    if (read_form(req, &form) != 0) {
        mock_call_invalid(call, "The body must be multipart/form-data with a file and a model.");
        return;
    }
    if (!form.has_file || !form.has_model) {
        mock_call_invalid(call, form.has_file ? "you must provide a model parameter" : "you must provide a file");
        return;
    }
    static const char *const formats[] = {"json", "text", "srt", "vtt", "verbose_json"};
    size_t format = 0;
    if (form.response_format.len != 0) {
        for (format = 0; format < sizeof(formats) / sizeof(formats[0]); format++) {
            if (h2o_memis(form.response_format.base, form.response_format.len, formats[format], strlen(formats[format])))
                break;
        }
        if (format == sizeof(formats) / sizeof(formats[0])) {
            mock_call_invalid(call, "response_format must be json, text, srt, vtt or verbose_json");
            return;
        }
    }
    int translate = call->endpoint == MOCK_ENDPOINT_TRANSLATIONS;
    double duration = audio_duration(form.file);
    struct mock_length length;
    struct mock_text text;
    mock_answer_length(&call->plan, NULL, 0, &length);
    mock_text_words(&text, &req->pool, length.tokens);

    struct mock_buf out;
    mock_buf_init(&out, &req->pool, 512 + text.len * 2 + (size_t)text.count * 8 + form.language.len);
    if (strcmp(formats[format], "text") == 0) {
        mock_buf_printf(&out, "%.*s\n", (int)text.len, text.base);
    } else if (strcmp(formats[format], "srt") == 0 || strcmp(formats[format], "vtt") == 0) {
        int srt = formats[format][0] == 's';
        mock_buf_append(&out, srt ? "1\n" : "WEBVTT\n\n", srt ? 2 : 8);
        append_timestamp(&out, 0, srt ? ',' : '.');
        mock_buf_append(&out, H2O_STRLIT(" --> "));
        append_timestamp(&out, duration, srt ? ',' : '.');
        mock_buf_printf(&out, "\n%.*s\n\n", (int)text.len, text.base);
    }
    if (out.len != 0) {
        mock_call_send(call, "text/plain; charset=utf-8", out.base, out.len);
        return;
    }
    int verbose = strcmp(formats[format], "verbose_json") == 0;
    mock_buf_append(&out, "{", 1);
    if (verbose) {
        mock_buf_printf(&out, "\"task\":\"%s\",\"language\":", translate ? "translate" : "transcribe");
        if (form.language.len != 0 && !translate)
            mock_buf_json_string(&out, form.language.base, form.language.len);
        else
            mock_buf_append(&out, H2O_STRLIT("\"english\""));
        mock_buf_printf(&out, ",\"duration\":%.2f,", duration);
    }
    mock_buf_append(&out, H2O_STRLIT("\"text\":"));
    mock_buf_json_string(&out, text.base, text.len);
    if (verbose) {
        mock_buf_printf(&out, ",\"segments\":[{\"id\":0,\"seek\":0,\"start\":0.0,\"end\":%.2f,\"text\":", duration);
        mock_buf_json_string(&out, text.base, text.len);
        for (uint32_t i = 0; i < text.count; i++)
            mock_buf_printf(&out, "%s%u", i == 0 ? ",\"tokens\":[" : ",", 1000 + i);
        mock_buf_append(&out, H2O_STRLIT("],\"temperature\":0.0,\"avg_logprob\":-0.25,\"compression_ratio\":1.0,"
                                         "\"no_speech_prob\":0.0}]"));
    }
    unsigned long long seconds = (unsigned long long)ceil(duration);
    if (form.model.len > 4 && memcmp(form.model.base, "gpt-", 4) == 0) {
        unsigned long long prompt = mock_words(form.prompt.base, form.prompt.len), audio = seconds * AUDIO_TOKENS_PER_SECOND;
        mock_buf_printf(&out,
                        ",\"usage\":{\"type\":\"tokens\",\"input_tokens\":%llu,\"input_token_details\":{\"text_tokens\":%llu,"
                        "\"audio_tokens\":%llu},\"output_tokens\":%u,\"total_tokens\":%llu}}",
                        prompt + audio, prompt, audio, text.count, prompt + audio + text.count);
    } else {
        mock_buf_printf(&out, ",\"usage\":{\"type\":\"duration\",\"seconds\":%llu}}", seconds);
    }
    mock_call_send(call, "application/json", out.base, out.len);
}

/* ---- speech ------------------------------------------------------------ */

#define SPEECH_SAMPLE_RATE 24000
/* Samples of speech per word of input, at speed 1: 50 ms. */
#define SAMPLES_PER_WORD 1200
#define MAX_SPEECH_INPUT 4096

/* One silent MPEG-1 Layer III frame: 128 kbit/s, 44.1 kHz, mono; 1152
 * samples, 417 bytes with its header, all-zero side info and data. */
#define MP3_FRAME_BYTES 417
#define MP3_FRAME_SECONDS (1152.0 / 44100)
static const unsigned char mp3_frame_header[] = {0xff, 0xfb, 0x90, 0xc4};

static const struct {
    const char *format, *content_type, *signature;
} speech_formats[] = {
    {"mp3", "audio/mpeg", NULL},   {"opus", "audio/ogg", "OggS"}, {"aac", "audio/aac", "\xff\xf1"},
    {"flac", "audio/flac", "fLaC"}, {"wav", "audio/wav", NULL},    {"pcm", "audio/pcm", NULL},
};

static void put_le(unsigned char *p, uint32_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A 16-bit mono PCM WAV header for `data` bytes of samples. */
static void wav_header(unsigned char *h, uint32_t data)
{
    memcpy(h, "RIFF", 4);
    put_le(h + 4, 36 + data, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);                     /* fmt chunk size */
    put_le(h + 20, 1, 2);                      /* PCM */
    put_le(h + 22, 1, 2);                      /* channels */
    put_le(h + 24, SPEECH_SAMPLE_RATE, 4);     /* sample rate */
    put_le(h + 28, SPEECH_SAMPLE_RATE * 2, 4); /* byte rate */
    put_le(h + 32, 2, 2);                      /* block align */
    put_le(h + 34, 16, 2);                     /* bits per sample */
    memcpy(h + 36, "data", 4);
    put_le(h + 40, data, 4);
}

void mock_answer_speech(struct mock_call *call)
{
    json_t *model, *body = mock_call_body(call, 1, &model);
    if (body == NULL)
        return;
    json_t *input = json_object_get(body, "input"), *speed = json_object_get(body, "speed");
    const char *format = mock_json_string(body, "response_format");
    size_t f = 0;
    for (; format != NULL && f < sizeof(speech_formats) / sizeof(speech_formats[0]); f++) {
        if (strcmp(format, speech_formats[f].format) == 0)
            break;
    }
    const char *error = NULL;
    if (!json_is_string(input) || json_string_length(input) > MAX_SPEECH_INPUT)
        error = "input must be a string of at most 4096 characters";
    else if (mock_json_string(body, "voice") == NULL)
        error = "voice must be a string";
    else if (f == sizeof(speech_formats) / sizeof(speech_formats[0]))
        error = "response_format must be mp3, opus, aac, flac, wav or pcm";
    else if (speed != NULL && (!json_is_number(speed) || json_number_value(speed) < 0.25 || json_number_value(speed) > 4))
        error = "speed must be a number from 0.25 to 4.0";
    if (error != NULL) {
        mock_call_invalid(call, error);
        return;
    }
    size_t words = mock_words(json_string_value(input), json_string_length(input));
    double samples = ceil((double)(words ? words : 1) * SAMPLES_PER_WORD / (speed != NULL ? json_number_value(speed) : 1));
    double seconds = samples / SPEECH_SAMPLE_RATE;
    uint32_t pcm_bytes = (uint32_t)samples * 2;
    const char *name = speech_formats[f].format;
    size_t len;
    unsigned char *audio;
    if (strcmp(name, "mp3") == 0) {
        size_t frames = (size_t)ceil(seconds / MP3_FRAME_SECONDS);
        len = frames * MP3_FRAME_BYTES;
        audio = h2o_mem_alloc_pool(&call->req->pool, len);
        memset(audio, 0, len);
        for (size_t i = 0; i < frames; i++)
            memcpy(audio + i * MP3_FRAME_BYTES, mp3_frame_header, sizeof(mp3_frame_header));
    } else {
        size_t header = strcmp(name, "wav") == 0 ? 44 : 0;
        len = header + pcm_bytes;
        audio = h2o_mem_alloc_pool(&call->req->pool, len);
        memset(audio, 0, len);
        if (header != 0)
            wav_header(audio, pcm_bytes);
        else if (speech_formats[f].signature != NULL)
            memcpy(audio, speech_formats[f].signature, strlen(speech_formats[f].signature));
    }
    mock_call_send(call, speech_formats[f].content_type, (const char *)audio, len);
}
