// WatchAlerts
