/* Human review over HTTP: leasing, labels, release, gold, raters. */
#include "api.h"
#include "app.h"

void api_tasks_next(struct req *r, const char *param)
{
    (void)param;
    http_error(r, 501, "not_implemented", "Tasks are not implemented yet.");
}
void api_task_label(struct req *r, const char *param)
{
    (void)param;
    http_error(r, 501, "not_implemented", "Tasks are not implemented yet.");
}
void api_task_release(struct req *r, const char *param)
{
    (void)param;
    http_error(r, 501, "not_implemented", "Tasks are not implemented yet.");
}
void api_item_gold(struct req *r, const char *param)
{
    (void)param;
    http_error(r, 501, "not_implemented", "Tasks are not implemented yet.");
}
void api_raters(struct req *r, const char *param)
{
    (void)param;
    http_error(r, 501, "not_implemented", "Tasks are not implemented yet.");
}
void api_overlap_put(struct req *r, const char *param)
{
    (void)param;
    http_error(r, 501, "not_implemented", "Tasks are not implemented yet.");
}
void api_request_done(struct req *r)
{
    (void)r;
}
void api_wake_all_waiters(struct app *app)
{
    (void)app;
}
void api_wake_expired_waiters(struct app *app)
{
    (void)app;
}
