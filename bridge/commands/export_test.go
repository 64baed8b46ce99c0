package commands

import "github.com/relais-bot/relais/bridge/commands/campaigns"

// CampaignSlug lets the tests outside the package predict the code a /mobiliser gets.
var CampaignSlug = campaigns.Slug
