/* Log libstrophe (Debian libstrophe-dev 0.12) in to an XMPP server.
 *
 *   strophe_login --host 127.0.0.1 --port P --jid user@domain
 *                 (--password-env VAR | password on stdin) [--resource R] [--timeout S] [-v]
 *                 [--ca-file CA.pem]
 *
 * Without --ca-file: plaintext TCP, STARTTLS never used. With --ca-file: STARTTLS mandatory
 * (XMPP_CONN_FLAG_MANDATORY_TLS), the certificate verified against that CA for the JID's
 * domain, and the login only counts if the connection is secured.
 *
 * libstrophe has no API to choose the SASL mechanism: it takes the strongest one offered
 * (SCRAM-SHA-512/256/1 > DIGEST-MD5 > PLAIN). To force one, run it through
 * strophe_login.py, which puts mech_filter_proxy.py in front of the server. That wrapper is
 * the driver with the uniform command line (including --mechanism); this binary is what
 * it runs. Output/exit contract as in driver_common.py: "LOGIN OK jid=..." and exit 0 once
 * libstrophe reports XMPP_CONN_CONNECT (SASL + bind, + session if not optional).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strophe.h>

enum outcome { PENDING, LOGGED_IN, FAILED };

struct state {
    enum outcome outcome;
    char jid[1024];
    int error;
    int stream_error;
    int secured;
};

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                    xmpp_stream_error_t *stream_error, void *userdata)
{
    struct state *st = userdata;
    if (status == XMPP_CONN_CONNECT) {
        const char *bound = xmpp_conn_get_bound_jid(conn);
        snprintf(st->jid, sizeof st->jid, "%s", bound ? bound : "");
        st->secured = xmpp_conn_is_secured(conn);
        st->outcome = LOGGED_IN;
        xmpp_disconnect(conn);
    } else if (st->outcome == PENDING) {
        /* Disconnected (or connection failure) before the login completed. */
        st->outcome = FAILED;
        st->error = error;
        st->stream_error = stream_error != NULL;
    }
}

static int usage(const char *msg)
{
    fprintf(stderr, "LOGIN FAILED: libstrophe: %s\n"
            "usage: strophe_login --host H --port P --jid user@domain [--password-env VAR] "
            "[--resource R] [--timeout S] [-v]\n", msg);
    return 2;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *jid = NULL, *pass_env = NULL, *resource = NULL;
    const char *ca_file = NULL;
    long port = -1;
    double timeout = 20.0;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) { verbose = 1; continue; }
        if (v == NULL) return usage("missing value after an option");
        if (strcmp(a, "--host") == 0) host = v;
        else if (strcmp(a, "--port") == 0) port = strtol(v, NULL, 10);
        else if (strcmp(a, "--jid") == 0) jid = v;
        else if (strcmp(a, "--password-env") == 0) pass_env = v;
        else if (strcmp(a, "--resource") == 0) resource = v;
        else if (strcmp(a, "--timeout") == 0) timeout = strtod(v, NULL);
        else if (strcmp(a, "--ca-file") == 0) ca_file = v;
        else return usage("unknown option");
        i++;
    }
    if (jid == NULL || port <= 0 || port > 65535) return usage("--jid and --port are required");
    if (strchr(jid, '@') == NULL || strchr(jid, '/') != NULL)
        return usage("--jid must be a bare JID user@domain; use --resource for the resource");

    char password[1024];
    if (pass_env != NULL) {
        const char *p = getenv(pass_env);
        if (p == NULL) return usage("password environment variable is not set");
        snprintf(password, sizeof password, "%s", p);
    } else {
        if (fgets(password, sizeof password, stdin) == NULL) return usage("no password on stdin");
        password[strcspn(password, "\r\n")] = '\0';
    }

    char full_jid[1200];
    snprintf(full_jid, sizeof full_jid, "%s%s%s", jid, resource ? "/" : "", resource ? resource : "");

    struct state st = { PENDING, "", 0, 0, 0 };
    xmpp_initialize();
    xmpp_log_t *log = xmpp_get_default_logger(verbose ? XMPP_LEVEL_DEBUG : XMPP_LEVEL_ERROR);
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, log);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    if (ca_file != NULL) {
        /* STARTTLS required, verified against the given CA only; no stream management. */
        xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_DISABLE_SM);
        xmpp_conn_set_cafile(conn, ca_file);
    } else {
        /* Plaintext only (no STARTTLS even if offered); no stream management. */
        xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_DISABLE_TLS | XMPP_CONN_FLAG_DISABLE_SM);
    }
    xmpp_conn_set_jid(conn, full_jid);
    xmpp_conn_set_pass(conn, password);
    if (xmpp_connect_client(conn, host, (unsigned short)port, on_conn, &st) != XMPP_EOK) {
        fprintf(stderr, "LOGIN FAILED: libstrophe: cannot connect to %s:%ld\n", host, port);
        return 1;
    }
    double deadline = now() + timeout;
    int timed_out = 0;
    /* Run until the login outcome is known and the disconnect after it has finished. */
    while (xmpp_conn_is_connecting(conn) || xmpp_conn_is_connected(conn) || st.outcome == PENDING) {
        if (now() > deadline) { timed_out = 1; break; }
        if (st.outcome == FAILED) break;
        xmpp_run_once(ctx, 100);
    }
    xmpp_conn_release(conn);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();

    if (st.outcome == LOGGED_IN && ca_file != NULL && !st.secured) {
        fprintf(stderr, "LOGIN FAILED: libstrophe: logged in without TLS\n");
        return 1;
    }
    if (st.outcome == LOGGED_IN) {
        printf("LOGIN OK jid=%s mechanism=(chosen by libstrophe) client=libstrophe\n", st.jid);
        return 0;
    }
    if (timed_out) {
        fprintf(stderr, "LOGIN FAILED: libstrophe: timeout after %.0f s\n", timeout);
        return 3;
    }
    fprintf(stderr, "LOGIN FAILED: libstrophe: disconnected before login completed (error=%d%s)\n",
            st.error, st.stream_error ? ", stream error" : "");
    return 1;
}
