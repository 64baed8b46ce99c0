package main

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// HistoryConfig is how far back imported history goes and where uploaded exports are read
// from (DESIGN.md, "History: leaders on day one").
type HistoryConfig struct {
	// HistoryDays is RELAIS_HISTORY_DAYS; 0: the retention.
	HistoryDays int
	// TelegramFileEndpoint is TELEGRAM_FILE_ENDPOINT (token, file path).
	TelegramFileEndpoint string
}

func historySettings() []setting {
	return []setting{
		{name: "RELAIS_HISTORY_DAYS", help: "how far back relais import and WhatsApp's history sync go, in days (empty: the retention, and never more)",
			apply: func(c *Config, v string) error {
				if v == "" {
					c.HistoryDays = 0
					return nil
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 3650 {
					return errors.New("want a number of days from 1 to 3650")
				}
				c.HistoryDays = n
				return nil
			}},
		{name: "TELEGRAM_FILE_ENDPOINT", def: "https://api.telegram.org/file/bot%s/%s", help: "where Telegram files (an organiser's uploaded export) are downloaded from (token, file path)",
			apply: func(c *Config, v string) error {
				if strings.Count(v, "%s") != 2 || !strings.HasPrefix(v, "http") {
					return errors.New("want an http(s) URL format with two %s (token, file path)")
				}
				c.TelegramFileEndpoint = v
				return nil
			}},
	}
}

func (c Config) historyValues(m map[string]string) map[string]string {
	m["RELAIS_HISTORY_DAYS"] = ""
	if c.HistoryDays > 0 {
		m["RELAIS_HISTORY_DAYS"] = strconv.Itoa(c.HistoryDays)
	}
	m["TELEGRAM_FILE_ENDPOINT"] = c.TelegramFileEndpoint
	return m
}

// HistorySince is the oldest time history is imported from: RELAIS_HISTORY_DAYS back, and
// never further than the retention (an older event would be purged as soon as stored).
func (c Config) HistorySince(now time.Time) time.Time {
	days := c.RetentionDays
	if c.HistoryDays > 0 && c.HistoryDays < days {
		days = c.HistoryDays
	}
	return now.AddDate(0, 0, -days)
}
