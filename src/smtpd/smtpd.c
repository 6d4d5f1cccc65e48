/* stub: replaced by the module owner */
#include "worker.h"
int smtpd_main(struct worker *w) { (void)w; return 1; }
int pickup_main(struct worker *w) { (void)w; return 1; }
