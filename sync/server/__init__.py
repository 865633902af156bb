"""The central server: the kiosk API, survey publishing and the database behind them."""
