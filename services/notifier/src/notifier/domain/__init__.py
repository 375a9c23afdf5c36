"""The notifier's pure core: what each event tells whom, in words, in calendars and in signed webhooks."""
