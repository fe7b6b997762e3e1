/* libstrophe (Debian libstrophe-dev 0.12) with stream management (XEP-0198) and resumption.
 *
 *   strophe_sm_resume --host 127.0.0.1 --port P --jid user@domain [--resource R]
 *                     (--password-env VAR | password on stdin) --to JID
 *                     [--before TEXT] [--after TEXT] [--timeout S] [-v]
 *
 * The resumption drivers' protocol is slix_sm_resume.py's (interop/README.md): LOGIN OK,
 * ENABLED id=, ACKED <before>, WAITING; `resume` on stdin; RESUMED <previd>, ACKED <after>,
 * RECEIVED <body> (any time); `quit`; DONE. Failures: `SESSION FAILED: libstrophe: ...` on
 * stderr, exit 1 (2 usage, 3 timeout). Plaintext only (XMPP_CONN_FLAG_DISABLE_TLS); libstrophe
 * picks the strongest mechanism offered.
 *
 * libstrophe 0.12 has stream management on by default: <enable resume='true'/> after binding,
 * an <r/> after every stanza it sends, and <a/> answers. Its connection object keeps the
 * session after a loss (xmpp_conn_get_sm_state/xmpp_conn_set_sm_state move it to another
 * one): connecting the same object again sends <resume previd h> before binding, resends
 * what was not acknowledged, and reports XMPP_CONN_CONNECT as for a new session. It tells
 * the application neither the SM-ID nor whether it resumed, so the driver reads both from
 * libstrophe's debug log (`RECV: <enabled ... id=...>`, `RECV: <resumed ... previd=...>`),
 * and counts acknowledgements with a handler for <a/> (the driver's messages are the only
 * stanzas it sends). It reconnects only after `resume`.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <strophe.h>

struct state {
    int verbose;
    int connects;       /* XMPP_CONN_CONNECT events so far */
    int disconnected;   /* the connection is gone (and not yet reconnected) */
    char sm_id[512];    /* from <enabled id=...> */
    char previd[512];   /* from <resumed previd=...> */
    unsigned long acked; /* the last <a h=...> */
    char line[1024];    /* stdin, not yet a full line */
    size_t line_len;
};

static double deadline;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(int code, const char *msg)
{
    fprintf(stderr, "SESSION FAILED: libstrophe: %s\n", msg);
    fflush(stdout);
    exit(code);
}

static void escaped(const char *prefix, const char *body)
{
    fputs(prefix, stdout);
    for (const char *p = body; *p; p++) {
        if (*p == '\\') fputs("\\\\", stdout);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\r') fputs("\\r", stdout);
        else putchar(*p);
    }
    putchar('\n');
    fflush(stdout);
}

/* Copies the value of `name="..."` in `text` (libstrophe writes double quotes). */
static void attribute(const char *text, const char *name, char *out, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *start = strstr(text, key);
    if (start == NULL) return;
    start += strlen(key);
    const char *end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= size) return;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
}

/* libstrophe's log, watched for what its API does not say; on stderr with -v. */
static void on_log(void *userdata, xmpp_log_level_t level, const char *area, const char *msg)
{
    struct state *st = userdata;
    if (st->verbose) fprintf(stderr, "strophe %d %s %s\n", (int)level, area, msg);
    if (strncmp(msg, "RECV: <enabled", 14) == 0) attribute(msg, "id", st->sm_id, sizeof st->sm_id);
    if (strncmp(msg, "RECV: <resumed", 14) == 0) attribute(msg, "previd", st->previd, sizeof st->previd);
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                    xmpp_stream_error_t *stream_error, void *userdata)
{
    struct state *st = userdata;
    (void)conn;
    (void)stream_error;
    if (status == XMPP_CONN_CONNECT) {
        st->connects++;
        st->disconnected = 0;
    } else if (status == XMPP_CONN_DISCONNECT || status == XMPP_CONN_FAIL) {
        if (st->verbose) fprintf(stderr, "strophe: disconnected (error %d)\n", error);
        st->disconnected = 1;
    }
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    (void)conn;
    (void)userdata;
    const char *type = xmpp_stanza_get_type(stanza);
    char *body = xmpp_message_get_body(stanza);
    if (body != NULL && (type == NULL || strcmp(type, "error") != 0))
        escaped("RECEIVED ", body);
    if (body != NULL) xmpp_free(xmpp_conn_get_context(conn), body);
    return 1;
}

static int on_ack(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    (void)conn;
    struct state *st = userdata;
    const char *h = xmpp_stanza_get_attribute(stanza, "h");
    if (h != NULL) st->acked = strtoul(h, NULL, 10);
    return 1;
}

/* Runs libstrophe until `done(st)` holds; reads stdin into st->line meanwhile. */
static void run_until(xmpp_ctx_t *ctx, struct state *st, int (*done)(struct state *), const char *what)
{
    while (!done(st)) {
        if (now() > deadline) {
            char msg[256];
            snprintf(msg, sizeof msg, "timeout waiting for %s", what);
            fail(3, msg);
        }
        xmpp_run_once(ctx, 50);
    }
}

/* The next line on stdin (without its newline); "quit" at the end of input. */
static void read_line(xmpp_ctx_t *ctx, struct state *st, char *out, size_t size)
{
    for (;;) {
        char *nl = memchr(st->line, '\n', st->line_len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - st->line);
            snprintf(out, size, "%.*s", (int)n, st->line);
            memmove(st->line, nl + 1, st->line_len - n - 1);
            st->line_len -= n + 1;
            return;
        }
        if (now() > deadline) fail(3, "timeout waiting for an instruction");
        struct pollfd pfd = { 0, POLLIN, 0 };
        if (poll(&pfd, 1, 0) > 0) {
            ssize_t r = read(0, st->line + st->line_len, sizeof st->line - st->line_len - 1);
            if (r <= 0) {
                snprintf(out, size, "quit");
                return;
            }
            st->line_len += (size_t)r;
        }
        xmpp_run_once(ctx, 50);
    }
}

static int first_connect(struct state *st) { return st->connects >= 1 || st->disconnected; }
static int enabled(struct state *st) { return st->sm_id[0] != '\0' || st->disconnected; }
static int one_acked(struct state *st) { return st->acked >= 1 || st->disconnected; }
static int gone(struct state *st) { return st->disconnected; }
static int second_connect(struct state *st) { return st->connects >= 2 || st->disconnected; }
static int two_acked(struct state *st) { return st->acked >= 2 || st->disconnected; }

static void send_message(xmpp_ctx_t *ctx, xmpp_conn_t *conn, const char *to, const char *body)
{
    xmpp_stanza_t *msg = xmpp_message_new(ctx, "chat", to, NULL);
    xmpp_message_set_body(msg, body);
    xmpp_send(conn, msg);
    xmpp_stanza_release(msg);
}

static int usage(const char *msg)
{
    fprintf(stderr, "SESSION FAILED: libstrophe: %s\n"
            "usage: strophe_sm_resume --host H --port P --jid user@domain [--resource R] "
            "[--password-env VAR] --to JID [--before T] [--after T] [--timeout S] [-v]\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *jid = NULL, *pass_env = NULL, *resource = NULL, *to = NULL;
    const char *before = "before the cut", *after = "after the resumption";
    long port = -1;
    double timeout = 30.0;
    struct state st;
    memset(&st, 0, sizeof st);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) { st.verbose = 1; continue; }
        if (v == NULL) return usage("missing value after an option");
        if (strcmp(a, "--host") == 0) host = v;
        else if (strcmp(a, "--port") == 0) port = strtol(v, NULL, 10);
        else if (strcmp(a, "--jid") == 0) jid = v;
        else if (strcmp(a, "--password-env") == 0) pass_env = v;
        else if (strcmp(a, "--resource") == 0) resource = v;
        else if (strcmp(a, "--to") == 0) to = v;
        else if (strcmp(a, "--before") == 0) before = v;
        else if (strcmp(a, "--after") == 0) after = v;
        else if (strcmp(a, "--timeout") == 0) timeout = strtod(v, NULL);
        else return usage("unknown option");
        i++;
    }
    if (jid == NULL || to == NULL || port <= 0 || port > 65535)
        return usage("--jid, --port and --to are required");
    if (strchr(jid, '@') == NULL || strchr(jid, '/') != NULL)
        return usage("--jid must be a bare JID user@domain; use --resource for the resource");
    deadline = now() + timeout;

    char password[1024];
    if (pass_env != NULL) {
        const char *p = getenv(pass_env);
        if (p == NULL) return usage("password environment variable is not set");
        snprintf(password, sizeof password, "%s", p);
    } else {
        /* One byte at a time, so that nothing after the password line is buffered away. */
        size_t n = 0;
        char c;
        while (n + 1 < sizeof password && read(0, &c, 1) == 1 && c != '\n') password[n++] = c;
        password[n] = '\0';
        if (n > 0 && password[n - 1] == '\r') password[n - 1] = '\0';
        if (n == 0) return usage("no password on stdin");
    }
    char full_jid[1200];
    snprintf(full_jid, sizeof full_jid, "%s%s%s", jid, resource ? "/" : "", resource ? resource : "");

    xmpp_initialize();
    xmpp_log_t log = { on_log, &st };
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, &log);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    /* Plaintext; stream management is on unless XMPP_CONN_FLAG_DISABLE_SM. */
    xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_DISABLE_TLS);
    xmpp_conn_set_jid(conn, full_jid);
    xmpp_conn_set_pass(conn, password);
    xmpp_handler_add(conn, on_message, NULL, "message", NULL, &st);
    xmpp_handler_add(conn, on_ack, XMPP_NS_SM, "a", NULL, &st);

    if (xmpp_connect_client(conn, host, (unsigned short)port, on_conn, &st) != XMPP_EOK)
        fail(1, "cannot connect");
    run_until(ctx, &st, first_connect, "the login");
    if (st.connects < 1) fail(1, "disconnected before the login completed");
    printf("LOGIN OK jid=%s client=libstrophe\n", xmpp_conn_get_bound_jid(conn));
    fflush(stdout);
    run_until(ctx, &st, enabled, "<enabled/>");
    if (st.sm_id[0] == '\0') fail(1, "stream management with resumption is not on (no <enabled id>)");
    printf("ENABLED id=%s\n", st.sm_id);
    fflush(stdout);

    send_message(ctx, conn, to, before);
    run_until(ctx, &st, one_acked, "the first acknowledgement");
    if (st.acked < 1) fail(1, "disconnected before the first message was acknowledged");
    escaped("ACKED ", before);
    printf("WAITING\n");
    fflush(stdout);

    char instruction[256];
    read_line(ctx, &st, instruction, sizeof instruction);
    if (strcmp(instruction, "resume") != 0) fail(2, "expected `resume`");
    run_until(ctx, &st, gone, "the loss of the connection");
    st.disconnected = 0;
    if (xmpp_connect_client(conn, host, (unsigned short)port, on_conn, &st) != XMPP_EOK)
        fail(1, "cannot reconnect");
    run_until(ctx, &st, second_connect, "the resumption");
    if (st.connects < 2) fail(1, "disconnected while resuming");
    if (st.previd[0] == '\0') fail(1, "a new session was bound instead of resuming");
    if (strcmp(st.previd, st.sm_id) != 0) fail(1, "resumed another session");
    printf("RESUMED %s\n", st.previd);
    fflush(stdout);

    send_message(ctx, conn, to, after);
    run_until(ctx, &st, two_acked, "the second acknowledgement");
    if (st.acked < 2) fail(1, "disconnected before the second message was acknowledged");
    escaped("ACKED ", after);

    do read_line(ctx, &st, instruction, sizeof instruction);
    while (strcmp(instruction, "quit") != 0);
    xmpp_disconnect(conn);
    run_until(ctx, &st, gone, "the close");
    printf("DONE\n");
    fflush(stdout);
    xmpp_conn_release(conn);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return 0;
}
