// Command zoomfake serves the fake Zoom of package zoomfake on a real
// address, with one account of generated users whose presence changes and
// calls are delivered as signed webhooks: what deploy/compose runs
// zoomsync against. It is a trial and test bench, not part of zoomsync.
//
// Settings (environment):
//
//	ZOOMFAKE_ADDR            where it listens (default :9000)
//	ZOOMFAKE_URL             its root URL as zoomsync reaches it (default http://zoomfake:9000)
//	ZOOMFAKE_ACCOUNT_ID      the account (default compose-demo)
//	ZOOMFAKE_CLIENT_ID       its OAuth client id (default compose-demo-client)
//	ZOOMFAKE_CLIENT_SECRET   its OAuth client secret (required)
//	ZOOMFAKE_WEBHOOK_SECRET  its webhook secret token (required)
//	ZOOMFAKE_USERS           generated users (default 50)
//	ZOOMFAKE_WEBHOOK_URL     where events go (default http://zoomsync:8080/webhooks/zoom/ACCOUNT)
//	ZOOMFAKE_RATE            events per second (default 1)
package main
