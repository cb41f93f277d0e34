/*  http/deadline.c — a wall-clock bound on a worker thread's blocking reads.

    civetweb 1.15 bounds one mg_read only by silence: its poll() waits up
    to request_timeout_ms for the next bytes, and the read goes on for as
    long as they keep coming, so a client that trickles a byte now and
    then holds the worker for as long as it likes, and a read of a body
    that never comes waits the whole idle timeout. civetweb exposes
    neither the socket nor a per-connection timeout (the timeout is read
    from the shared configuration on every call), so the bound is made
    from outside: each worker thread owns a POSIX timer that signals that
    thread alone (SIGEV_THREAD_ID). Once the armed deadline passes the
    signal makes civetweb's poll() fail with EINTR, which its read takes
    as an error, and mg_read returns. The timer keeps firing every
    S_REPEAT_MS until disarmed, so a signal that lands between two polls
    is followed by one that interrupts the next. The handler does
    nothing; nothing but the read runs on the thread while a deadline is
    armed.
*/
#include "http/http_int.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define S_REPEAT_MS 50  // re-fire period once due, until disarmed

static int s_signo;  // SIGRTMIN + 4, set once
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_on_signal(int signo)
{
    (void)signo;  // only there to interrupt poll()
}

//  The handler is process-wide; the signal is only ever sent to a worker
//  thread with an armed deadline. No SA_RESTART: poll() is not restarted
//  in any case, and a restarted read is what we do not want.
static void
s_install(void)
{
    s_signo = SIGRTMIN + 4;
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    if (sigaction(s_signo, &sa, NULL) != 0) s_signo = 0;
}

int
zf_http_deadline_init(zf_http_thread_t *t)
{
    pthread_once(&s_once, s_install);
    if (!s_signo) return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s_signo);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = s_signo};
    sev.sigev_notify_thread_id = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer) != 0) return -1;
    t->has_timer = true;
    return 0;
}

void
zf_http_deadline_fini(zf_http_thread_t *t)
{
    if (t->has_timer) timer_delete(t->timer);
    t->has_timer = false;
}

static struct timespec
s_ts(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
}

void
zf_http_deadline_arm(zf_http_thread_t *t, int64_t ms)
{
    if (!t || !t->has_timer) return;
    struct itimerspec its = {.it_value = s_ts(ms > 0 ? ms : 1), .it_interval = s_ts(S_REPEAT_MS)};
    timer_settime(t->timer, 0, &its, NULL);
}

void
zf_http_deadline_disarm(zf_http_thread_t *t)
{
    if (!t || !t->has_timer) return;
    struct itimerspec off = {{0, 0}, {0, 0}};
    timer_settime(t->timer, 0, &off, NULL);
}
