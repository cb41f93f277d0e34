/*  actors/notify.h — failure notifications (see notify.c). */
#ifndef ZF_NOTIFY_H
#define ZF_NOTIFY_H

#include <jansson.h>

//  Emails wf's error_handling.notify_email about the failed run when
//  notify_on_failure is set and mail is configured. Returns at once.
void zf_notify_failure(const char *smtp_url, const char *smtp_from, const json_t *wf,
                       const json_t *run);

#endif
