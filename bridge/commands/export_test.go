package commands

// CampaignSlug lets the tests outside the package predict the code a /mobiliser gets.
var CampaignSlug = campaignSlug
